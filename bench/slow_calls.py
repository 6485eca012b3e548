#!/usr/bin/env python3
"""Joins a lone caller's round trips (`ringkernel-bench --samples-dir`) to the
scout rounds that served them (a RINGKERNEL_ROUND_LOG worker's log,
bench/round_log.py), to tell where a slow call's time went: before its
serving round (quiet rounds: the request came after a look), in it (the
round's loads, its serving) or after it (the reply's way back and the
client).

The samples are every measured call in order; the log's serving rounds are
every call the kernel served in order, the warm-up first. So the last N
serving rounds of the latency run's stretch (no pause over 1 ms) are the N
samples. A call's send time on the GPU's clock is then its serving round's
end minus its latency (up to the reply's way back, the same for every
call): that places the request among the scout's rounds.

    python3 bench/slow_calls.py SAMPLES.u64 rl.<id> [--slow-ns 6500]
"""
import argparse
import array
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import round_log  # noqa: E402


def stretches(rounds):
    """Lists of serving-round indices, split where serving paused over 1 ms."""
    out, last = [], None
    for i, e in enumerate(rounds):
        if not e[3] & round_log.MOVED:
            continue
        if last is None or round_log.since(rounds[last][0], e[0]) > round_log.SEGMENT_GAP_NS:
            out.append([])
        out[-1].append(i)
        last = i
    return out


def median(v):
    s = sorted(v)
    return s[len(s) // 2] if s else 0


def describe(name, calls):
    if not calls:
        print(f"  {name}: none")
        return
    n = len(calls)
    quiet = collections.Counter(min(c["quiet"], 3) for c in calls)
    print(f"  {name}: {n} calls; quiet rounds before the serving one: "
          + ", ".join(f"{k if k < 3 else '3+'}: {100 * quiet[k] / n:.1f} %" for k in sorted(quiet)))
    for key, label in (("latency", "latency"), ("loads", "serving round's loads"),
                       ("serve", "its serving and bookkeeping (round end - loads in)"),
                       ("found_after", "serving round start - send"), ("turnaround", "send - previous round's end"),
                       ("gap", "previous serving round's end - next round's start"),
                       ("prev_serve", "the same for the previous serving round"),
                       ("commands", "serving round read the command words"), ("sweep", "serving round swept"),
                       ("hit", "prefetch hit")):
        v = [c[key] for c in calls]
        if key in ("commands", "sweep", "hit"):
            print(f"    {label}: {100 * sum(v) / n:.1f} %")
        else:
            print(f"    {label}: {round_log.quantiles(v, (0.1, 0.5, 0.9))}")
    # What the looks at the caller saw, in its serving round and in the
    # round before it when that one was quiet (the round that missed it).
    for key, label in (("looks", "serving round"), ("missed_looks", "the quiet round before")):
        looks = [c[key] for c in calls if c[key] is not None]
        if not looks:
            continue
        relooks = collections.Counter(x & round_log.LOOK_RELOOKS for x in looks)
        first = [round_log.look_ns(x) for x in looks]
        last = [round_log.look_ns(x, True) for x in looks if x & round_log.LOOK_RELOOKS]
        print(f"    {label}'s looks ({len(looks)}): repeated "
              + ", ".join(f"{k}x {100 * relooks[k] / len(looks):.1f} %" for k in sorted(relooks))
              + f"; first saw the tail move {100 * sum(1 for x in looks if x & round_log.LOOK_FIRST_MOVED) / len(looks):.1f} %"
              + f", words taken valid {100 * sum(1 for x in looks if x & round_log.LOOK_VALID) / len(looks):.1f} %")
        print(f"      first look's round trip: {round_log.quantiles(first, (0.1, 0.5, 0.9))}"
              + (f"; last repeated look's: {round_log.quantiles(last, (0.1, 0.5, 0.9))}" if last else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples")
    ap.add_argument("log")
    ap.add_argument("--slow-ns", type=int, default=6500)
    o = ap.parse_args()
    lat = array.array("Q")
    with open(o.samples, "rb") as f:
        lat.frombytes(f.read())
    rounds = round_log.load(o.log)
    runs = [s for s in stretches(rounds) if len(s) >= len(lat)]
    if not runs:
        sys.exit(f"no stretch of {len(lat)} serving rounds in {o.log}")
    served = runs[0][-len(lat):]
    # Unwrap the log's 32-bit start times along the stretch.
    t, prev, ends, starts = 0, None, [], []
    for i in served:
        s = rounds[i][0]
        t = s if prev is None else t + round_log.since(prev, s)
        prev = s
        starts.append(t)
        ends.append(t + rounds[i][2])
    calls = []
    for k in range(1, len(served)):
        i, j = served[k - 1], served[k]
        send = ends[k] - lat[k]  # up to the reply's way back, a constant
        e = rounds[j]
        p = rounds[i]
        calls.append(dict(latency=lat[k], quiet=j - i - 1, loads=e[1], serve=e[2] - e[1],
                          found_after=starts[k] - send, turnaround=send - ends[k - 1],
                          gap=round_log.since(p[0], rounds[i + 1][0]) - p[2], prev_serve=p[2] - p[1],
                          commands=bool(e[3] & round_log.COMMANDS), sweep=bool(e[3] & round_log.SWEEP),
                          hit=bool(e[3] & round_log.PREFETCH_HIT), looks=e[6],
                          missed_looks=rounds[j - 1][6] if j - i > 1 else None))
    # The constant: the fastest tenth's median send-to-round offset is set to 0.
    fast = sorted(calls, key=lambda c: c["latency"])[: len(calls) // 10]
    base_found, base_turn = median([c["found_after"] for c in fast]), median([c["turnaround"] for c in fast])
    for c in calls:
        c["found_after"] -= base_found
        c["turnaround"] -= base_turn
    print(f"{len(calls)} calls joined to their serving rounds ({o.log}); times in µs, "
          "send-relative ones against the fastest tenth's median")
    describe(f"calls up to {o.slow_ns / 1000:g} µs", [c for c in calls if c["latency"] <= o.slow_ns])
    slow = [c for c in calls if c["latency"] > o.slow_ns]
    describe(f"calls over {o.slow_ns / 1000:g} µs", slow)
    # The slow calls by the first thing that explains them.
    normal_serve = median([c["serve"] for c in fast])
    causes = collections.Counter()
    for c in slow:
        if c["sweep"]:
            causes["served by a sweep round"] += 1
        elif c["quiet"] >= 1:
            causes[f"{min(c['quiet'], 3)}{'+' if c['quiet'] >= 3 else ''} quiet rounds first"] += 1
        elif c["prev_serve"] > normal_serve + 1000 or c["gap"] > 1000:
            causes["the round before ran long or a gap followed it"] += 1
        elif c["commands"]:
            causes["served by a command round"] += 1
        elif c["serve"] > normal_serve + 1000:
            causes["its round's serving ran long"] += 1
        elif c["turnaround"] < -1000:
            causes["after its round (the reply's way, the client)"] += 1
        else:
            causes["none of these"] += 1
    print(f"  slow calls by cause (share of all {len(calls)} calls):")
    for cause, n in causes.most_common():
        print(f"    {cause}: {n} ({100 * n / len(calls):.2f} %)")


if __name__ == "__main__":
    main()
