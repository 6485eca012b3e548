#!/usr/bin/env python3
"""Compares a memory probe's record (rk_bench_memory_probe: one line per
slice, CLOCK_MONOTONIC ns and ns per dependent load) with call traces of
the same time (bench/call_trace.py): if the host's memory slows down for
everyone while a run's calls stall, the probe's loads are slow inside the
calls' stall episodes and not outside them.

    python3 bench/probe_vs_calls.py probe.txt TRACE_DIR [--stall-ns 600]

A call is stalled when writing its record took over --stall-ns (normally
0.1 µs); an episode is a stretch of 500 calls of which over a fifth stalled.
"""
import argparse
import bisect
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import call_trace  # noqa: E402


def median(v):
    s = sorted(v)
    return s[len(s) // 2] if s else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("probe")
    ap.add_argument("traces")
    ap.add_argument("--stall-ns", type=int, default=600)
    o = ap.parse_args()
    times, ns = [], []
    for line in open(o.probe):
        parts = line.split()
        if len(parts) == 2:
            times.append(int(parts[0]))
            ns.append(float(parts[1]))
    if not times:
        sys.exit("no probe samples")
    print(f"probe: {len(ns)} slices, ns per load p50 {median(ns):.1f}, p99 {sorted(ns)[int(len(ns) * .99)]:.1f}")

    def probe_between(a, b):
        return ns[bisect.bisect_left(times, a):bisect.bisect_right(times, b)]

    for path in sorted(glob.glob(os.path.join(o.traces, "call-*.bin"))):
        rows = call_trace.read(path)
        inside, outside, episodes = [], [], 0
        for i in range(0, len(rows) - 500, 500):
            block = rows[i:i + 500]
            stalled = sum(1 for r in block if r[call_trace.WRITTEN] - r[call_trace.ENTER] > o.stall_ns)
            slices = probe_between(block[0][call_trace.ENTER], block[-1][call_trace.REPLIED])
            if stalled > 100:
                inside += slices
                episodes += 1
            else:
                outside += slices
        print(f"{os.path.basename(path)}: {episodes} blocks of 500 calls in episodes; probe ns per load "
              f"inside them p50 {median(inside):.1f} ({len(inside)} slices), outside p50 {median(outside):.1f} "
              f"({len(outside)} slices)")


if __name__ == "__main__":
    main()
