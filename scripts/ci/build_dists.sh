#!/usr/bin/env bash
# Build an sdist and a wheel of every workspace package into OUT (default: dist/).
#
# Both artefacts are built from the source tree (`--sdist --wheel`), so the native wheel
# reuses cargo's cache in packages/sark-native/target; tests/dist builds sark-native's
# sdist from scratch separately. SARK_MANYLINUX picks the wheel's manylinux tag (maturin
# checks the binary against it): the lowest this machine's glibc allows is the default.
# manylinux_2_28 and older need a manylinux container or `maturin build --zig`.
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/dist}")
MANYLINUX=${SARK_MANYLINUX:-manylinux_2_34}

rm -rf "$OUT"
mkdir -p "$OUT"
cd "$ROOT"
MATURIN_PEP517_ARGS="--compatibility $MANYLINUX" \
  uv build --all-packages --sdist --wheel --out-dir "$OUT" --no-progress
ls -1 "$OUT"
