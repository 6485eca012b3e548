#!/usr/bin/env bash
# Temporary demo (a later issue replaces it): builds RingKernel and measures
# the cross-process round trip of a 64-byte record over two shm rings, beside
# the floors measured in the same run: one shared atomic word bounced between
# two processes, and two words (one written by each side).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh
build="${RINGKERNEL_BUILD_DIR:-$root/build}"
cmake -S . -B "$build" -G Ninja ${RINGKERNEL_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)" --target rk_bench_ring

tmp="$(mktemp -d -t rk-demo-XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
echo "== ping-pong: two processes, 64 B records (a few seconds)"
if ! "$build/bin/rk_bench_ring" --benchmark_filter='BM_PingPong64' \
     --benchmark_out="$tmp/pingpong.json" --benchmark_out_format=json >"$tmp/stdout" 2>"$tmp/stderr"; then
  cat "$tmp/stdout" "$tmp/stderr" >&2
  exit 1
fi

python3 - "$tmp/pingpong.json" <<'PY'
import json, sys
runs = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if b["name"].startswith("BM_PingPong64")]
if not runs or "error_message" in runs[0]:
    sys.exit("demo: the ping-pong benchmark failed: " + (runs[0].get("error_message", "no result") if runs else "no result"))
r = runs[0]
rows = [("shm rings: 64 B out, 64 B back", "ring"),
        ("floor: one shared atomic word", "raw_word"),
        ("floor: one word per side", "two_lines")]
print()
print("round trip (ns)".ljust(34) + "p50".rjust(8) + "p99".rjust(8))
for label, key in rows:
    print(label.ljust(34) + f"{r[key + '_p50_ns']:8.0f}" + f"{r[key + '_p99_ns']:8.0f}")
print()
print(f"ring p50 = {r['ring_over_raw_p50']:.2f}x the shared-word floor, "
      f"{r['ring_over_two_lines_p50']:.2f}x the one-word-per-side floor")
print("(blocks of each protocol are interleaved in one run, so all three saw the same machine)")
PY
