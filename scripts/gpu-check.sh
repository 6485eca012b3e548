#!/usr/bin/env bash
# Runs the GPU test suites and the GPU benchmarks from an existing build, on
# a machine with a CUDA device (no CMake needed there). Prints a summary.
#   scripts/gpu-check.sh [build-dir] [out-dir]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
out="${2:-/tmp/rk-gpu-check}"
mkdir -p "$out"
export LD_LIBRARY_PATH="$build/lib:$root/.devlibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
echo "== GPU baselines"
timeout 120 "$build/bin/rk_bench_gpu_baselines" 100000 | tee "$out/baselines.txt"
echo "== rk_call through ringkerneld (cuda)"
sock="$(mktemp -d)/rk.sock"
"$build/bin/ringkerneld" --socket "$sock" --backend cuda --log-level warn &
server=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
timeout 60 "$build/bin/rk_bench_call" "$sock" cuda 100000 ${RK_BENCH_PROCS:-8} ${RK_BENCH_IDLE:-64} | tee "$out/call.txt"
kill -TERM "$server"; wait "$server"
fail=0
for t in ${RK_GPU_TESTS:-kernels_device_test rk_gpu_service_test}; do
  [ -x "$build/bin/$t" ] || continue
  echo "== $t"
  timeout ${RK_TEST_TIMEOUT:-300} "$build/bin/$t" --gtest_brief=1 2>&1 | tee "$out/$t.log" | tail -n 40
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
done
exit $fail
