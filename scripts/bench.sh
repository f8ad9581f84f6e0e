#!/usr/bin/env bash
# Compares Envoy's cost per request with no filter, an empty wasm module, Envoy's native
# header_mutation, Lua, the proxy-wasm crate, a hand-written ABI filter and this SDK, and
# prints Markdown tables (see README "Performance"). Options go to the runner:
#   scripts/bench.sh [--rounds N] [--seconds S] [--connections C] [--only header,multi,body]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v wasm-opt >/dev/null || missing+=(binaryen)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
fi

echo "==> building the benchmark modules"
cargo build --quiet --release --target wasm32-wasip1 -p bench_empty -p bench_floor --lib
cargo build --quiet --release --target wasm32-wasip1 -p bench_sdk --examples
cargo build --quiet --release --target wasm32-wasip1 --examples \
  --manifest-path bench/peers/proxy_wasm_bench/Cargo.toml

echo "==> running (this takes a few minutes)"
cargo run --quiet --release -p bench -- "$@"
