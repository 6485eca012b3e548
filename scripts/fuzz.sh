#!/usr/bin/env bash
# Builds (if needed) the libFuzzer targets of tests/fuzz with clang-14,
# ASan and UBSan, and runs each for SECONDS_PER_TARGET (default 60) from a
# copy of its checked-in seed corpus. Prints the executions of each target
# and exits non-zero on any finding (crash, leak, timeout, out-of-memory);
# the input that caused it is kept under <build>/findings/.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
#   RINGKERNEL_FUZZ_BUILD_DIR   build directory (default: build-fuzz)
#   RINGKERNEL_FUZZ_TARGETS     space-separated subset of the targets
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${1:-60}"
build="${RINGKERNEL_FUZZ_BUILD_DIR:-$root/build-fuzz}"
targets=(${RINGKERNEL_FUZZ_TARGETS:-fuzz_control_request fuzz_ring_consumer fuzz_kernel_handlers fuzz_client_reply})

for tool in clang-14 clang++-14; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool not found (scripts/setup.sh installs it)" >&2; exit 2; }
done
if [ ! -f "$build/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DRINGKERNEL_FUZZ=ON -DRINGKERNEL_SANITIZE=address -DRINGKERNEL_CUDA=OFF -DRINGKERNEL_TESTS=OFF \
    -DRINGKERNEL_BENCH=OFF -DRINGKERNEL_WERROR=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
mkdir -p "$build/findings"
failed=()
summary=()
for t in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$t"
  work="$build/corpus/$t"
  mkdir -p "$work"
  [ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null || true
  log="$build/$t.log"
  echo "== $t for ${seconds}s"
  rc=0
  "$build/bin/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$build/findings/$t-" "$work" >"$log" 2>&1 || rc=$?
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  summary+=("$t: ${execs:-?} executions in ${seconds}s, exit $rc")
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "-- $t found something (exit $rc); last lines of $log:"
    tail -n 60 "$log"
  fi
done
echo "== fuzz summary"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz.sh: findings in ${failed[*]} (inputs under $build/findings)" >&2
  exit 1
fi
