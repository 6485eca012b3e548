#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: ctest (unit,
# integration, stress, gpu — gpu tests skip without a device), cargo test
# for the Rust binding and go test for the Go binding. Exits non-zero on any
# failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

bash scripts/setup.sh
# A rustup toolchain, where there is one, is newer than Debian's.
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
build="${RINGKERNEL_BUILD_DIR:-$root/build}"
jobs="$(nproc)"

cmake -S . -B "$build" -G Ninja -DRINGKERNEL_WERROR=ON ${RINGKERNEL_CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 600

if [ -f bindings/rust/Cargo.toml ]; then
  echo "== cargo test (bindings/rust)"
  (cd bindings/rust && RINGKERNEL_BUILD_DIR="$build" cargo test --offline)
fi
if [ -f bindings/go/go.mod ]; then
  echo "== go test (bindings/go)"
  (cd bindings/go && RINGKERNEL_BUILD_DIR="$build" bash ./run-tests.sh)
fi
# Reliability: the unit and integration suites again under ASan+UBSan and
# under TSan, then every fuzz target for a short smoke period
# (RINGKERNEL_FUZZ_SECONDS, default 10; scripts/fuzz.sh for long runs).
# RINGKERNEL_SKIP_SANITIZERS=1 / RINGKERNEL_SKIP_FUZZ=1 leave them out locally.
if [ "${RINGKERNEL_SKIP_SANITIZERS:-0}" != 1 ]; then
  RINGKERNEL_BUILD_DIR="$build" bash scripts/sanitize.sh address thread
fi
if [ "${RINGKERNEL_SKIP_FUZZ:-0}" != 1 ]; then
  RINGKERNEL_FUZZ_BUILD_DIR="$build-fuzz" bash scripts/fuzz.sh "${RINGKERNEL_FUZZ_SECONDS:-10}"
fi
echo "== all tests passed"
