#!/usr/bin/env python3
"""Reads a scout round log (a RINGKERNEL_ROUND_LOG build of the CUDA worker,
run with RK_ROUND_LOG=<prefix>; server/cuda/worker/round_log.cuh) and tells
where a lone caller's round trips go.

In a ping-pong the scout's rounds lock to the caller: one round per call,
which finds the next request, serves it and ends. So the time from one
serving round to the next is the call's period, and a call that took longer
shows why: quiet rounds in between (the round that should have found the
request missed it: the caller's request landed after that round's loads read
its tail), a gap between rounds (block 0's loop), or a slow serving round.

    python3 bench/round_log.py rl.1 [--slow-ns 7000]
"""
import argparse
import collections
import struct
import sys

MARKS = ("verdict", "serve_inline entered", "cursor words in", "lone path start", "record staged", "planned",
         "handled", "published", "accounted", "serve_inline returned", "serve_moved_inline returned", "posted")
ENTRY = struct.Struct(f"<4I{len(MARKS)}H2I")
MARK_ABSENT = 0xFFFF
NOT_QUIET, MOVED, COMMANDS, PREFETCH, SWEEP, SERVE_FIRST, PREFETCH_HIT = (1 << i for i in range(7))
# RoundLogEntry::looks (round_log.cuh): what the looks at the lone caller saw.
LOOK_RELOOKS, LOOK_FIRST_MOVED, LOOK_VALID = 3, 1 << 2, 1 << 3


def look_ns(looks, last=False):
    """The first (or the last repeated) look's round trip in ns."""
    return ((looks >> (20 if last else 8)) & 0xFFF) * 16


SEGMENT_GAP_NS = 1_000_000  # a pause this long between serving rounds starts a new measurement


def load(path):
    data = open(path, "rb").read()
    (count,) = struct.unpack_from("<I", data)
    capacity = (len(data) - 4) // ENTRY.size
    entries = [ENTRY.unpack_from(data, 4 + ENTRY.size * i) for i in range(capacity)]
    # (start, loads, total, flags, marks, SM cycles since the entry before, looks)
    entries = [e[:4] + (e[4:4 + len(MARKS)], e[4 + len(MARKS)], e[5 + len(MARKS)]) for e in entries]
    if count <= capacity:
        return entries[:count]
    first = count % capacity  # the ring wrapped: oldest first
    return entries[first:] + entries[:first]


def quantiles(values, qs=(0.01, 0.1, 0.5, 0.9, 0.99)):
    if not values:
        return "-"
    v = sorted(values)
    return " ".join(f"p{round(q * 100, 1):g} {v[min(len(v) - 1, int(len(v) * q))] / 1000:.2f}" for q in qs)


def since(a, b):
    return (b - a) & 0xFFFFFFFF


def steps(rounds, first):
    """Median ns from the loads' landing to each mark, and from one mark to
    the next, over the served-first rounds that passed every mark, then from
    the last mark to the round's end and on to the next round's start."""
    whole = [i for i in first if MARK_ABSENT not in rounds[i][4] and i + 1 < len(rounds)]
    if not whole:
        return
    med = lambda v: sorted(v)[len(v) // 2]
    print(f"    steps of {len(whole)} rounds that passed every mark (median ns, from the loads' landing):")
    prev = [0] * len(whole)
    for m, name in enumerate(MARKS):
        at = [rounds[i][4][m] for i in whole]
        print(f"      {name:30s} {med(at):6d}  (+{med([a - p for a, p in zip(at, prev)]):5d})")
        prev = at
    end = [rounds[i][2] - rounds[i][1] for i in whole]
    print(f"      {'round end':30s} {med(end):6d}  (+{med([e - p for e, p in zip(end, prev)]):5d})")
    nxt = [since(rounds[i][0], rounds[i + 1][0]) - rounds[i][1] for i in whole]
    print(f"      {'next round start':30s} {med(nxt):6d}  (+{med([n - e for n, e in zip(nxt, end)]):5d})")


def report(rounds, slow_ns):
    moved = [i for i, e in enumerate(rounds) if e[3] & MOVED]
    print(f"{len(rounds)} rounds, {len(moved)} served or posted")
    segments = [[moved[0]]] if moved else []
    for a, b in zip(moved, moved[1:]):
        if since(rounds[a][0], rounds[b][0]) > SEGMENT_GAP_NS:
            segments.append([])
        segments[-1].append(b)
    for seg in segments:
        if len(seg) < 1000:
            continue
        periods, gaps, by_quiet, slow_by_quiet = [], [], collections.Counter(), collections.Counter()
        for a, b in zip(seg, seg[1:]):
            period = since(rounds[a][0], rounds[b][0])
            quiet = min(b - a - 1, 4)
            periods.append(period)
            by_quiet[quiet] += 1
            if period > slow_ns:
                slow_by_quiet[quiet] += 1
            gaps.append(since(rounds[a][0], rounds[a + 1][0]) - rounds[a][2])
        n = len(periods)
        pct = lambda c: ", ".join(f"{k if k < 4 else '4+'}: {100 * v / n:.2f} %" for k, v in sorted(c.items()))
        print(f"\nmeasurement of {len(seg)} serving rounds")
        print(f"  period (serving round to serving round, us): {quantiles(periods)}")
        print(f"  quiet rounds in between: {pct(by_quiet)}")
        print(f"  periods over {slow_ns / 1000:g} us, by quiet rounds in between: {pct(slow_by_quiet)}")
        print(f"  gap after a serving round (us): {quantiles(gaps)}; over 1 us: "
              f"{100 * sum(g > 1000 for g in gaps) / n:.2f} %")
        print(f"  serving round, loads (us): {quantiles([rounds[i][1] for i in seg])}")
        print(f"  serving round, whole (us): {quantiles([rounds[i][2] for i in seg])}")
        first = [i for i in seg if rounds[i][3] & SERVE_FIRST]
        if first:
            published = [rounds[i][3] >> 8 for i in first]
            print(f"  served first ({100 * len(first) / len(seg):.1f} %): loads in -> reply published (us): "
                  f"{quantiles(published)}")
            print(f"    reply published -> round end (us): "
                  f"{quantiles([rounds[i][2] - rounds[i][1] - (rounds[i][3] >> 8) for i in first])}")
            steps(rounds, first)
        mhz = [rounds[b][5] * 1000 / since(rounds[a][0], rounds[b][0]) for a, b in zip(seg, seg[1:]) if b == a + 1]
        if mhz:
            print(f"  SM clock over back-to-back serving rounds (GHz): {quantiles(mhz)}")
        flags = collections.Counter(rounds[i][3] & 0xFF for i in seg)
        hits = sum(v for k, v in flags.items() if k & PREFETCH_HIT)
        print(f"  served from prefetched words: {100 * hits / len(seg):.1f} %")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log")
    p.add_argument("--slow-ns", type=int, default=7000, help="a period above this is slow (default 7000)")
    a = p.parse_args()
    report(load(a.log), a.slow_ns)


if __name__ == "__main__":
    sys.exit(main())
