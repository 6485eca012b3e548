#!/usr/bin/env python3
"""Reads the call traces of a RINGKERNEL_CALL_TRACE build of libringkernel
(capi/call_trace.h: $RK_CALL_TRACE_DIR/call-<pid>.bin, one per calling
process) and splits each rk_call on the caller's side:

  publish   entry to the tail's store (the request's copy and stores)
  drain     the tail's store to the end of a full fence after it
  wait      the fence to the reply in hand

For the calls over --slow-ns it tells whether the time went before the
request was out (publish, drain: the client's side) or after (wait), and
where in its page the request record lay: a cost that follows the first
store to a page shows there.

    python3 bench/call_trace.py DIR [--slow-ns 8500] [--skip 1000]
"""
import argparse
import collections
import glob
import os
import struct

ENTRY = struct.Struct("<6Q")  # enter, published, drained, replied, record address, cpu


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    return [ENTRY.unpack_from(data, i) for i in range(0, len(data) - ENTRY.size + 1, ENTRY.size)]


def pct(v, q):
    s = sorted(v)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0


def describe(name, rows):
    if not rows:
        print(f"  {name}: none")
        return
    parts = {"total": [r[3] - r[0] for r in rows], "publish": [r[1] - r[0] for r in rows],
             "drain": [r[2] - r[1] for r in rows], "wait": [r[3] - r[2] for r in rows]}
    print(f"  {name}: {len(rows)} calls")
    for k, v in parts.items():
        print(f"    {k:8s} p50 {pct(v, .5):7d}  p90 {pct(v, .9):7d}  p99 {pct(v, .99):7d}  max {max(v):8d} ns")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--slow-ns", type=int, default=8500)
    ap.add_argument("--skip", type=int, default=1000, help="warm-up calls left out")
    a = ap.parse_args()
    for path in sorted(glob.glob(os.path.join(a.dir, "call-*.bin"))):
        rows = [r for r in read(path)[a.skip:] if r[3] >= r[2] >= r[1] >= r[0] > 0]
        if not rows:
            continue
        slow = [r for r in rows if r[3] - r[0] > a.slow_ns]
        print(f"{os.path.basename(path)}: {len(rows)} calls, {100 * len(slow) / len(rows):.2f} % over {a.slow_ns} ns")
        describe("all", rows)
        describe("slow", slow)
        late = sum(1 for r in slow if r[2] - r[0] > a.slow_ns // 2)
        print(f"  slow calls whose request was out only after {a.slow_ns // 2} ns: {late}")
        # Where the record lay in its page, in 128-byte steps (a record of a
        # 64 B call is 128 bytes), slow against all.
        phase_all = collections.Counter((r[4] % 4096) // 128 for r in rows)
        phase_slow = collections.Counter((r[4] % 4096) // 128 for r in slow)
        ratio = sorted(((phase_slow[p] / len(slow)) / (phase_all[p] / len(rows)), p)
                       for p in phase_all if slow) if slow else []
        print("  page phase (128 B steps) most over-represented among slow calls (x, phase): "
              + ", ".join(f"{x:.2f}x@{p}" for x, p in reversed(ratio[-4:])))
        moved = sum(1 for i, r in enumerate(rows) if i and r[5] != rows[i - 1][5])
        print(f"  CPU changes between calls: {moved}; CPUs: {sorted(set(r[5] for r in rows))[:8]}")


if __name__ == "__main__":
    main()
