#!/usr/bin/env bash
# The property tests (decoders, every example's configuration and requests) with many more
# cases than scripts/test.sh runs: scripts/fuzz.sh [CASES] (default 5000 per property).
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-5000}"
export PROPTEST_CASES="$cases"
echo "== property tests, $cases cases each"
cargo test --release -p envoy-wasm-sdk --test decoders
cargo test --release -p envoy-tests --test arbitrary
