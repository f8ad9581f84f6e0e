#!/usr/bin/env bash
# Shows a filter working on live requests: scripts/demo.sh [hello_world|http_headers]
# Builds the example, runs its own envoy.yaml in a real Envoy in front of an echo upstream,
# sends a few requests and prints request and response side by side. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
example="${1:-hello_world}"
[ -f "examples/$example/envoy.yaml" ] || { echo "no example named $example (see examples/)" >&2; exit 2; }

scripts/setup.sh
cargo build --quiet --release --target wasm32-wasip1 -p "$example"
cargo build --quiet -p envoy-tests --bin demo
exec target/debug/demo "$example"
