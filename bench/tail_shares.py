#!/usr/bin/env python3
"""Tail shares of latency samples written by `ringkernel-bench --samples-dir`
(one file per measurement, native uint64 ns, in the order taken): p50, p90,
p99 and the share of calls over a few thresholds, for every file of every
folder given. Tells the calls that met the host (the floor has them too)
from the ones that are ours (docs/benchmarks.md, eleventh session).

    python3 bench/tail_shares.py DIR [DIR ...] [--over 6,7,10]
"""
import argparse
import array
import glob
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", help="--samples-dir folders")
    ap.add_argument("--over", default="6,7,10", help="thresholds in µs, comma-separated")
    args = ap.parse_args()
    thresholds = [float(t) for t in args.over.split(",")]
    for folder in args.dirs:
        for path in sorted(glob.glob(os.path.join(folder, "*.u64"))):
            samples = array.array("Q")
            with open(path, "rb") as f:
                samples.frombytes(f.read())
            v = sorted(samples)
            if not v:
                continue
            n = len(v)
            q = lambda p: v[min(n - 1, int(n * p))] / 1000
            shares = " ".join(f">{t:g}us {100 * sum(1 for x in v if x > t * 1000) / n:.2f}%" for t in thresholds)
            name = os.path.join(os.path.basename(os.path.normpath(folder)), os.path.basename(path)[:-4])
            print(f"{name:48s} n {n} p50 {q(.5):.2f} p90 {q(.9):.2f} p99 {q(.99):.2f} {shares}")


if __name__ == "__main__":
    main()
