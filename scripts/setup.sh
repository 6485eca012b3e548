#!/usr/bin/env bash
# Installs every build and test dependency of RingKernel from Debian packages.
# Idempotent: packages already present are not fetched again, and the package
# index is refreshed at most once per run (only when something is missing).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  capnproto libcapnp-dev
  libboost-dev
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  golang-go
  python3 python3-matplotlib
  procps
  libcpp-httplib-dev libtomlplusplus-dev libsystemd-dev
  prometheus systemd dpkg-dev
  clang-14 libclang-rt-14-dev
)
# Rust: use the toolchain already on the machine if there is one (rustup's
# in ~/.cargo/bin, or Debian's); otherwise take Debian's.
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null 2>&1 || packages+=(cargo rustc)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

if [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: CUDA toolkit found at /usr/local/cuda (GPU backend will be built)"
else
  echo "setup: no CUDA toolkit; building the CPU backend only"
fi
