#!/usr/bin/env bash
# Compares Envoy's cost per request with no filter, an empty wasm module, Envoy's native
# header_mutation, Lua, the proxy-wasm crate, proxy-wasm-go-sdk (header and multi, where `go`
# is installed), a hand-written ABI filter, this SDK (as wasm and as a dynamic module) and a
# hand-written dynamic module, and
# prints Markdown tables (see README "Performance"). Options go to the runner:
#   scripts/bench.sh [--rounds N] [--seconds S] [--connections C] [--only header,multi,body]
#                    [--configs 'NAME;NAME']  (only these rows, plus "no filter")
# or, for the long run (1,000,000 requests per row through http_headers and http_body over
# HTTP/1.1 and HTTP/2, with errors, latency and memory at 10/50/100 %):
#   scripts/bench.sh --soak [--requests N]
#   scripts/bench.sh --client-input   (what a 52 KB query of 4,400 keys costs key_auth, as a
#                                      ratio to an ordinary request; fails above 25)
#   scripts/bench.sh --instructions [--only header,multi] [--configs 'NAME;NAME']
#                                     (the native rows as instructions per request, counted
#                                      by valgrind's callgrind: free of the machine's noise)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v wasm-opt >/dev/null || missing+=(binaryen)
command -v taskset >/dev/null || missing+=(util-linux)
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v valgrind >/dev/null || missing+=(valgrind)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
fi

if [[ " $* " == *" --client-input "* ]]; then
  echo "==> what hostile client input costs key_auth, against an ordinary request"
  cargo build --quiet --release --target wasm32-wasip1 -p key_auth
  exec cargo run --quiet --release -p bench -- "$@"
fi

if [[ " $* " == *" --instructions "* ]]; then
  echo "==> building the native modules"
  cargo build --quiet --profile native --features envoy-wasm-sdk/dynamic-module -p bench_sdk --examples
  cargo build --quiet --profile native -p bench_native_floor
  echo "==> counting (each Envoy starts under callgrind: a few minutes)"
  exec cargo run --quiet --release -p bench -- "$@"
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
# proxy-wasm-go-sdk's peer (bench/peers/proxy_wasm_go, both workloads in one module): Go is
# optional, so without it the runner leaves the Go rows out; a module left from an earlier
# build is removed so that it is not measured as if current.
go_peer=target/go-peer/proxy_wasm_go.wasm
if command -v go >/dev/null; then
  mkdir -p "$(dirname "$go_peer")"
  (cd bench/peers/proxy_wasm_go &&
    GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags='-s -w' \
      -o "../../../$go_peer" .)
else
  echo "==> go is not installed: skipping the proxy-wasm-go-sdk rows"
  rm -f "$go_peer"
fi

echo "==> running (this takes a few minutes)"
cargo run --quiet --release -p bench -- "$@"
