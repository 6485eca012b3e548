#!/usr/bin/env bash
# Same-lease A/B of builds on the lent GPU machine (docs/cuda-status.md,
# "Running on the lent device"). Each variant is a folder holding one
# build's ringkerneld, ringkernel-cuda-worker and libringkernel.so.1; the
# runs alternate between them, grid 1, every latency sample kept, and the
# worker's trace (the scout's counters) beside them.
#   VARIANTS="old new" REPS=3 ROUNDS=100000 PAYLOADS=64 \
#     scripts/device-ab.sh BUILD VARIANT_ROOT OUT [tests]
# A variant folder may hold an `env` file of VAR=value lines for its
# daemon (e.g. RK_SMEM_CARVEOUT=50), so one build can run several ways.
# With `tests`, BUILD's gpu suites run first. Then
# `python3 bench/tail_shares.py OUT/<variant>-<rep>` reads the samples.
set -uo pipefail
build="$1" variants_root="$2" out="$3"
root="$(cd "$(dirname "$0")/.." && pwd)"
export LD_LIBRARY_PATH="$build/lib:$root/.devlibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "${4:-}" = tests ]; then
  for t in rk_gpu_service_test kernels_device_test; do
    echo "== $t"
    timeout 300 "$build/bin/$t" --gtest_brief=1 2>&1 | tail -n 4
  done
  pkill -9 -f 'cuda-worke[r]'
fi
for rep in $(seq "${REPS:-2}"); do
  for v in ${VARIANTS:-old new}; do
    dir="$variants_root/$v"
    mkdir -p "$out/$v-$rep"
    echo "== $v, run $rep"
    extra=()
    [ -f "$dir/env" ] && mapfile -t extra < "$dir/env"
    env "${extra[@]}" RK_WORKER_TRACE="$out/trace-$v-$rep.log" LD_LIBRARY_PATH="$dir:$LD_LIBRARY_PATH" timeout 200 \
      "$build/bin/ringkernel-bench" --daemon "$dir/ringkerneld" --backend cuda --scenarios latency --grid 1 \
      --payloads "${PAYLOADS:-64}" --rounds "${ROUNDS:-100000}" --samples-dir "$out/$v-$rep" \
      --json "$out/$v-$rep.json" 2>&1 | grep -E '^latency'
    pkill -9 -f 'cuda-worke[r]'
  done
done
exit 0
