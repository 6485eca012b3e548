#!/usr/bin/env python3
"""Joins a lone caller's call trace (a RINGKERNEL_CALL_TRACE build of
libringkernel, bench/call_trace.py) to the scout's round log of the same run
(a RINGKERNEL_ROUND_LOG worker, bench/round_log.py), to tell a request the
client published late from one the GPU read late.

The last N calls of the trace are the last N serving rounds of the log's
longest stretch. The clocks (the host's monotonic clock, the GPU's
%globaltimer) are tied call by call: near call k, the smallest
(reply in hand on the host) - (serving round's end on the GPU) over the
calls around it is the offset plus the fastest way back, rho. A client's
tail store, drained at host time d, is then at GPU time d - offset, which
this script puts at d - that minimum: early by rho (0.5-1 µs).

For every look at the caller that found its tail unmoved, the script gives
how long after the request was out (on that estimate) the look left. A look
that left more than ~1.5 µs after it and still found nothing read stale
memory; if none did, the requests were late.

    python3 bench/look_vs_publish.py call-<pid>.bin rl.<id> [--slow-ns 8000]
"""
import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import call_trace  # noqa: E402
import round_log  # noqa: E402
import slow_calls  # noqa: E402

R = call_trace.REPLIED
WINDOW = 200  # calls either side for the clock tie (about 1 ms: no drift to speak of)


def look_departures(entry):
    """(departure offset from the round's start in ns, saw the tail move) for each look of a round."""
    looks = entry[6]
    if not looks:
        return []
    first_ns, last_ns, again = round_log.look_ns(looks), round_log.look_ns(looks, True), looks & round_log.LOOK_RELOOKS
    out = [(0, bool(looks & round_log.LOOK_FIRST_MOVED) or again == 0 and bool(entry[3] & round_log.MOVED))]
    t = first_ns
    for n in range(again):
        out.append((t, n == again - 1 and bool(entry[3] & round_log.MOVED)))
        t += last_ns  # the middle relook's round trip is not logged: taken as the last one's
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("log")
    ap.add_argument("--slow-ns", type=int, default=8000)
    o = ap.parse_args()
    calls = [r for r in call_trace.read(o.trace) if r[call_trace.REPLIED] >= r[call_trace.DRAINED] > r[call_trace.ENTER] > 0]
    rounds = round_log.load(o.log)
    runs = sorted(slow_calls.stretches(rounds), key=len)
    if not runs:
        sys.exit(f"no serving rounds in {o.log}")
    served = runs[-1]
    starts, t, prev = [], 0, None  # unwrapped 32-bit GPU times of every round from the first served one
    by_round = {}
    for i in range(served[0], served[-1] + 1):
        s = rounds[i][0]
        t = s if prev is None else t + round_log.since(prev, s)
        prev = s
        by_round[i] = t
    all_ends = [by_round[i] + rounds[i][2] for i in served]
    # Which serving round is which call: the shift that best matches the
    # calls' reply-to-reply times to the rounds' end-to-end times (the slow
    # calls make it unambiguous). Aligning the two ends was off by a few
    # rounds: the stretch can hold rounds that were no call of this client.
    dc = [calls[k][R] - calls[k - 1][R] for k in range(1, len(calls))]
    de = [all_ends[j] - all_ends[j - 1] for j in range(1, len(all_ends))]
    base = len(de) - len(dc)
    def cost(shift):
        pairs = [(k, k + shift) for k in range(0, len(dc), 3) if 0 <= k + shift < len(de)]
        if len(pairs) < len(dc) // 6:
            return float("inf")
        return sorted(abs(dc[k] - de[j]) for k, j in pairs)[len(pairs) * 9 // 10]
    costs = sorted((cost(s), s) for s in range(base - 64, base + 65))
    shift = costs[0][1]
    print(f"call k is serving round k{shift - base:+d} counted from the ends; p90 mismatch {costs[0][0]} ns "
          f"(next best {costs[1][0]} ns at {costs[1][1] - base:+d})")
    pairs = [(k + 1, k + shift + 1) for k in range(len(dc)) if 0 <= k + shift < len(de)]
    calls = [calls[k] for k, _ in pairs]
    served = [served[j] for _, j in pairs]
    ends = [all_ends[j] for _, j in pairs]
    n = len(calls)
    back = [c[R] - e for c, e in zip(calls, ends)]  # host reply time - GPU round end = offset + way back
    # A sliding minimum over the window, for the clock tie near each call.
    tie = [min(back[max(0, k - WINDOW):k + WINDOW]) for k in range(n)]
    gaps_all, gaps_slow, hits, slow_n = [], [], [], 0
    late_publish = collections.Counter()
    for k in range(1, n):
        c = calls[k]
        slow = c[R] - c[call_trace.ENTER] > o.slow_ns
        slow_n += slow
        out_gpu = c[call_trace.DRAINED] - tie[k]  # the request out (drained), on the GPU's clock, early by rho
        for r in range(served[k - 1] + 1, served[k] + 1):
            for dep, moved in look_departures(rounds[r]):
                if moved:
                    hits.append(by_round[r] + dep - out_gpu)
                    continue
                g = by_round[r] + dep - out_gpu
                gaps_all.append(g)
                if slow:
                    gaps_slow.append(g)
        if slow:
            late_publish["publish over 1 µs" if c[call_trace.PUBLISHED] - c[call_trace.ENTER] > 1000 else "publish under 1 µs"] += 1
    print(f"{n} calls joined; {slow_n} over {o.slow_ns / 1000:g} µs ({100 * slow_n / max(n, 1):.2f} %): "
          + ", ".join(f"{k}: {v}" for k, v in late_publish.items()))
    print("  looks that found the caller's tail unmoved, by when they left after the request was out (µs; "
          "estimate early by rho):")
    print(f"  looks that found it, the same way: {round_log.quantiles(hits, (0.001, 0.01, 0.1, 0.5, 0.9))}")
    for name, g in (("all calls", gaps_all), ("slow calls", gaps_slow)):
        if not g:
            print(f"    {name}: none")
            continue
        bins = collections.Counter(min(max(int(x // 500), -6), 12) for x in g)
        print(f"    {name}: {len(g)} looks; " + round_log.quantiles(g, (0.1, 0.5, 0.9, 0.99)))
        print("      per 0.5 µs from -3: " + " ".join(f"{bins[b]}" for b in range(-6, 13)))


if __name__ == "__main__":
    main()
