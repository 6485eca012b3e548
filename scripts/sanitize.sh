#!/usr/bin/env bash
# Builds and runs the unit and integration suites under sanitizers:
#   address  ASan + UBSan (RINGKERNEL_SANITIZE=address: -fsanitize=address,undefined)
#   thread   TSan
# Usage: scripts/sanitize.sh [address|thread ...]   (default: address thread)
# Each gets its own build directory (${RINGKERNEL_BUILD_DIR:-build}-asan,
# -tsan), lean: no CUDA, no benchmarks, and only the targets the two suites
# need. Any sanitizer report fails the run (halt_on_error, and a server that
# dies of one fails the test that started it). Exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
base="${RINGKERNEL_BUILD_DIR:-$root/build}"
jobs="$(nproc)"
kinds=("$@")
((${#kinds[@]})) || kinds=(address thread)

# The test binaries of the unit and integration labels, and what they start.
targets=(
  rk_shm_ring_test rk_shm_doorbell_test rk_shm_segment_test rk_shm_envelope_test
  rk_shm_process_test rk_shm_peer
  kernels_sdk_test kernels_builtin_test kernels_fuzz_test
  rk_capi_integration_test rk_test_client ringkerneld
  rk_ringkernelctl_test ringkernelctl
)

# Reports are failures, with the whole stack. No suppressions are needed;
# should one ever be, it goes in a file here with the reason beside it.
export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4"

for kind in "${kinds[@]}"; do
  case "$kind" in
    address) dir="$base-asan" ;;
    thread) dir="$base-tsan" ;;
    *) echo "sanitize.sh: unknown sanitizer '$kind' (address or thread)" >&2; exit 2 ;;
  esac
  echo "== sanitizer build: $kind ($dir)"
  cmake -S . -B "$dir" -G Ninja -DRINGKERNEL_WERROR=ON -DRINGKERNEL_CUDA=OFF -DRINGKERNEL_BENCH=OFF \
    -DRINGKERNEL_SANITIZE="$kind" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
  echo "== unit + integration under $kind"
  # Only tests of the targets built above run: a target not built shows up
  # as an unlabelled *_NOT_BUILT placeholder, which -L leaves out. (The
  # install test is left out on purpose: it only repeats the other suites
  # against an installed copy.) A new unit/integration suite belongs in
  # `targets` above.
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900 -L 'unit|integration'
done
echo "== sanitizers: all passed"
