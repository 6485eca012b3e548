#!/usr/bin/env python3
"""Reads the call traces of a RINGKERNEL_CALL_TRACE build of libringkernel
(capi/call_trace.h: $RK_CALL_TRACE_DIR/call-<pid>.bin, one per calling
process) and splits each rk_call on the caller's side:

  write     entry to the record written (room reserved, envelope stored)
  publish   on to the tail's store (the digest, the tail line's stores)
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

ENTRY = struct.Struct("<7Q")  # enter, written, published, drained, replied, record address, cpu
ENTER, WRITTEN, PUBLISHED, DRAINED, REPLIED, ADDRESS, CPU = range(7)


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
    parts = {"total": [r[REPLIED] - r[ENTER] for r in rows], "write": [r[WRITTEN] - r[ENTER] for r in rows],
             "publish": [r[PUBLISHED] - r[WRITTEN] for r in rows], "drain": [r[DRAINED] - r[PUBLISHED] for r in rows],
             "wait": [r[REPLIED] - r[DRAINED] for r in rows]}
    print(f"  {name}: {len(rows)} calls")
    for k, v in parts.items():
        print(f"    {k:8s} p50 {pct(v, .5):7d}  p90 {pct(v, .9):7d}  p99 {pct(v, .99):7d}  max {max(v):8d} ns")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--slow-ns", type=int, default=8500)
    ap.add_argument("--skip", type=int, default=1000, help="warm-up calls left out")
    ap.add_argument("--brief", action="store_true", help="one line a file")
    a = ap.parse_args()
    for path in sorted(glob.glob(os.path.join(a.dir, "call-*.bin"))):
        rows = [r for r in read(path)[a.skip:] if r[REPLIED] >= r[DRAINED] >= r[PUBLISHED] >= r[WRITTEN] >= r[ENTER] > 0]
        if not rows:
            continue
        slow = [r for r in rows if r[REPLIED] - r[ENTER] > a.slow_ns]
        if a.brief:
            late = [r for r in slow if r[PUBLISHED] - r[ENTER] > 1000]
            p50 = lambda k0, k1, v: pct([r[k1] - r[k0] for r in v], .5)
            print(f"{os.path.basename(path)}: {len(rows)} calls, {100 * len(slow) / len(rows):.2f} % over {a.slow_ns} ns,"
                  f" {100 * len(late) / len(rows):.2f} % of all both slow and published after 1 µs; slow calls' p50:"
                  f" write {p50(ENTER, WRITTEN, slow)} publish {p50(WRITTEN, PUBLISHED, slow)}"
                  f" drain {p50(PUBLISHED, DRAINED, slow)} wait {p50(DRAINED, REPLIED, slow)} ns")
            continue
        print(f"{os.path.basename(path)}: {len(rows)} calls, {100 * len(slow) / len(rows):.2f} % over {a.slow_ns} ns")
        describe("all", rows)
        describe("slow", slow)
        late = sum(1 for r in slow if r[DRAINED] - r[ENTER] > a.slow_ns // 2)
        print(f"  slow calls whose request was out only after {a.slow_ns // 2} ns: {late}")
        # Where the record lay in its page, in 128-byte steps (a record of a
        # 64 B call is 128 bytes), slow against all.
        phase_all = collections.Counter((r[ADDRESS] % 4096) // 128 for r in rows)
        phase_slow = collections.Counter((r[ADDRESS] % 4096) // 128 for r in slow)
        ratio = sorted(((phase_slow[p] / len(slow)) / (phase_all[p] / len(rows)), p)
                       for p in phase_all if slow) if slow else []
        print("  page phase (128 B steps) most over-represented among slow calls (x, phase): "
              + ", ".join(f"{x:.2f}x@{p}" for x, p in reversed(ratio[-4:])))
        first = [r[PUBLISHED] - r[ENTER] for r in rows if (r[ADDRESS] % 4096) < 128]
        rest = [r[PUBLISHED] - r[ENTER] for r in rows if (r[ADDRESS] % 4096) >= 128]
        print(f"  write and publish, first record of a page: p50 {pct(first, .5)} p90 {pct(first, .9)} p99 {pct(first, .99)} ns;"
              f" the rest: p50 {pct(rest, .5)} p90 {pct(rest, .9)} p99 {pct(rest, .99)} ns")
        moved = sum(1 for i, r in enumerate(rows) if i and r[CPU] != rows[i - 1][CPU])
        print(f"  CPU changes between calls: {moved}; CPUs: {sorted(set(r[CPU] for r in rows))[:8]}")


if __name__ == "__main__":
    main()
