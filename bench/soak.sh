#!/usr/bin/env bash
# Soak: mixed creates, reads and SSE against a release bo1d for N minutes, the fake
# provider at 300-1500 ms per call. Reports RSS after warm-up vs at the end (target within
# 5 %) and the error rate (target 0); exit status 0 when both hold. See bench/soak.py.
# Usage: bench/soak.sh [minutes=10] [creates/s=1] [reads/s=100] [sse share=0.5]
# BUILD=<dir> uses an existing build directory instead of build-release.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh
bo1_apt_install "${BO1_APT_PACKAGES[@]}"
BUILD=${BUILD:-$ROOT/build-release}
[ -n "${BUILD_SKIP:-}" ] || bo1_build "$BUILD" --buildtype=release >/dev/null
echo "soak: $(date -u +%FT%TZ), $(nproc) cores, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/soak.py "$BUILD" "${1:-10}" "${2:-1}" "${3:-100}" "${4:-0.5}"
rc=$?
echo "soak: finished $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
