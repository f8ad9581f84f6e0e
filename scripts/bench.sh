#!/usr/bin/env bash
# Compares Envoy's cost per request with no filter, an empty wasm module, Envoy's native
# header_mutation, Lua, the proxy-wasm crate, a hand-written ABI filter, this SDK (as wasm
# and as a dynamic module) and a hand-written dynamic module, and
# prints Markdown tables (see README "Performance"). Options go to the runner:
#   scripts/bench.sh [--rounds N] [--seconds S] [--connections C] [--only header,multi,body]
#                    [--configs 'NAME;NAME']  (only these rows, plus "no filter")
# or, for the long run (1,000,000 requests per row through http_headers and http_body over
# HTTP/1.1 and HTTP/2, with errors, latency and memory at 10/50/100 %):
#   scripts/bench.sh --soak [--requests N]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v wasm-opt >/dev/null || missing+=(binaryen)
command -v taskset >/dev/null || missing+=(util-linux)
command -v h2load >/dev/null || missing+=(nghttp2-client)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
fi

if [[ " $* " == *" --soak "* ]]; then
  echo "==> soak (the runner builds the examples; this takes a while)"
  exec cargo run --quiet --release -p bench -- "$@"
fi

echo "==> building the benchmark modules"
cargo build --quiet --release --target wasm32-wasip1 -p bench_empty -p bench_floor --lib
cargo build --quiet --release --target wasm32-wasip1 -p bench_sdk --examples
# The same workloads as Envoy dynamic modules (the SDK's native target).
cargo build --quiet --profile native --features envoy-wasm-sdk/dynamic-module -p bench_sdk --examples
cargo build --quiet --profile native -p bench_native_floor
cargo build --quiet --release --target wasm32-wasip1 --examples \
  --manifest-path bench/peers/proxy_wasm_bench/Cargo.toml

echo "==> running (this takes a few minutes)"
cargo run --quiet --release -p bench -- "$@"
