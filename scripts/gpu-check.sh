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
echo "== ringkernel-bench: rk_call beside the floor / launch / graph / cpu_ipc baselines, same run"
# A shorter run than the published one; RK_BENCH_ARGS overrides (docs/benchmarks.md has the full command).
timeout 600 "$build/bin/ringkernel-bench" --backend cuda,cpu --json "$out/bench.json" \
  ${RK_BENCH_ARGS:---rounds 20000 --duration 1 --idle-seconds 2} | tee "$out/bench.txt"
fail=0
for t in ${RK_GPU_TESTS:-kernels_device_test rk_gpu_service_test}; do
  [ -x "$build/bin/$t" ] || continue
  echo "== $t"
  timeout ${RK_TEST_TIMEOUT:-300} "$build/bin/$t" --gtest_brief=1 2>&1 | tee "$out/$t.log" | tail -n 40
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
done
exit $fail
