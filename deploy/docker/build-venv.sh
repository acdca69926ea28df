#!/bin/sh
# Build the wheels of one SARK image variant and install them, with the dependency versions
# pinned by uv.lock, into a fresh virtual environment. The Dockerfiles run this script in
# their build stage; tests/deploy runs the very same script on the host (no container engine
# there), so the recipe the images use is exercised by the test suite.
#
# usage: build-venv.sh VARIANT VENV [DIST]
#   VARIANT  api | gateway | native
#   VENV     where the virtual environment is created (/opt/sark in the images)
#   DIST     where wheels are written (default: a temporary directory)
#   A wheel already in DIST is reused (the native image builds sark-native in its own stage).
set -eu

variant=${1:?usage: build-venv.sh api|gateway|native VENV [DIST]}
venv=${2:?usage: build-venv.sh api|gateway|native VENV [DIST]}
dist=${3:-$(mktemp -d)}
python=${PYTHON:-python3}

case "$variant" in
  api) packages="sark-core sark-api"; top=sark-api ;;
  gateway) packages="sark-core sark-api sark-gateway"; top=sark-gateway ;;
  native) packages="sark-core sark-api sark-native"; top=sark-api ;;
  *) echo "build-venv.sh: unknown variant '$variant' (api, gateway, native)" >&2; exit 2 ;;
esac

mkdir -p "$dist"
for package in $packages; do
  wheel_prefix=$(echo "$package" | tr - _)
  if ls "$dist/$wheel_prefix"-*.whl >/dev/null 2>&1; then
    continue  # built by an earlier stage
  fi
  uv build --package "$package" --wheel --out-dir "$dist"
done

# Every third-party dependency at its locked version; the workspace packages come from
# the wheels just built (never from an index).
uv export --frozen --no-dev --no-emit-workspace --no-hashes --no-header \
  --package "$top" --output-file "$dist/requirements.txt" >/dev/null

uv venv --quiet --python "$python" "$venv"
wheels=""
for package in $packages; do
  wheels="$wheels $(ls "$dist/$(echo "$package" | tr - _)"-*.whl)"
done
# shellcheck disable=SC2086  # one argument per wheel
uv pip install --quiet --python "$venv/bin/python" --no-deps --compile-bytecode \
  -r "$dist/requirements.txt" $wheels
"$venv/bin/sark" version
