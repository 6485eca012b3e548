#!/usr/bin/env bash
# Runs the Go binding's checks against an uninstalled build tree:
# go vet, then go test twice (GODEBUG=cgocheck=1, then the stricter
# cgocheck=2). Called by scripts/test.sh as
#   (cd bindings/go && RINGKERNEL_BUILD_DIR="$build" bash ./run-tests.sh)
# Extra arguments go to both go test runs (e.g. -run Call -v).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$(cd "${RINGKERNEL_BUILD_DIR:-$root/build}" && pwd)"
cd "$here"

lib="$build/lib"
if [ ! -e "$lib/libringkernel.so" ]; then
  echo "run-tests.sh: no libringkernel.so in $lib; build the 'ringkernel' target first" >&2
  exit 1
fi
export RINGKERNELD="${RINGKERNELD:-$build/bin/ringkerneld}"
if [ ! -x "$RINGKERNELD" ]; then
  echo "run-tests.sh: no ringkerneld at $RINGKERNELD; build the 'ringkerneld' target first" >&2
  exit 1
fi

# cgo finds the library through pkg-config: a private ringkernel.pc that
# points at the build tree (the generated one points at the install prefix).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/ringkernel.pc" <<PC
libdir=$lib
includedir=$root/capi/include

Name: ringkernel
Description: RingKernel client library (uninstalled build tree)
Version: 0.1.0
Libs: -L\${libdir} -lringkernel
Cflags: -I\${includedir}
PC
export PKG_CONFIG_PATH="$tmp${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# The test binary finds libringkernel.so.1 through its rpath.
export CGO_ENABLED=1
export CGO_LDFLAGS="-Wl,-rpath,$lib${CGO_LDFLAGS:+ $CGO_LDFLAGS}"

# Offline and self-contained: no module downloads, caches in the build tree.
export GOPROXY=off GOFLAGS= GO111MODULE=on GOWORK=off GOSUMDB=off
export GOCACHE="$build/go/cache" GOPATH="$build/go/path"
if go help environment 2>/dev/null | grep -q GOTOOLCHAIN; then
  export GOTOOLCHAIN=local
fi
export RINGKERNEL_BUILD_DIR="$build"

echo "== go vet ($(go version))"
go vet ./...
echo "== go test, GODEBUG=cgocheck=1"
GODEBUG=cgocheck=1 go test -count=1 "$@" ./...
# The stricter check: GODEBUG=cgocheck=2 up to Go 1.20, the build-time
# GOEXPERIMENT=cgocheck2 from Go 1.21 on.
minor="$(go env GOVERSION | sed -nE 's/^go1\.([0-9]+).*/\1/p')"
if [ -n "$minor" ] && [ "$minor" -ge 21 ]; then
  echo "== go test, GOEXPERIMENT=cgocheck2"
  GOEXPERIMENT=cgocheck2 go test -count=1 "$@" ./...
else
  echo "== go test, GODEBUG=cgocheck=2"
  GODEBUG=cgocheck=2 go test -count=1 "$@" ./...
fi
