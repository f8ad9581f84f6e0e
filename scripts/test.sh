#!/usr/bin/env bash
# The whole check: formatting, lints, the wasm build of every example and the native build
# (dynamic modules) of those both targets serve (sizes printed), the unit, emulator and doc
# tests (the emulator tests natively and against each .wasm), the integration tests
# against a real Envoy (the examples' on both targets), and Istio's own code (Go) on the
# images and manifests the CLI makes.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (native, the dynamic-module target, and wasm32-wasip1)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --lib --features envoy-wasm-sdk/dynamic-module -p envoy-wasm-sdk -p hello_world -p http_headers -p http_body -p http_routing -p http_auth -p grpc_auth -p key_auth -p faulty -p delay -p tcp_guard -p rate_limit -p attributes -p probe -- -D warnings
cargo clippy --target wasm32-wasip1 -p envoy-wasm-sdk -p hello_world -p http_headers -p http_auth -p grpc_auth -p http_body -p http_routing -p rate_limit -p key_auth -p tcp_guard -p grpc_access_log -p faulty -p probe -p delay -p attributes -p bench_empty -p bench_floor -- -D warnings
cargo clippy --target wasm32-wasip1 -p bench_sdk --examples -- -D warnings

echo "== rustdoc (broken links fail; all features, as docs.rs builds it)"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet -p envoy-wasm-sdk -p cargo-envoy-wasm --no-deps --all-features

echo "== wasm build (the emulator tests run against these modules too)"
cargo wasm
for example in examples/*/; do
  wasm="target/wasm32-wasip1/release/$(basename "$example").wasm"
  printf '%-24s %8d bytes\n' "$(basename "$wasm")" "$(stat -c %s "$wasm")"
done

echo "== native build (Envoy dynamic modules; the integration tests load these too)"
cargo native
for example in hello_world http_headers http_body http_routing http_auth grpc_auth key_auth tcp_guard rate_limit; do
  printf '%-24s %8d bytes\n' "lib$example.so" "$(stat -c %s "target/native/lib$example.so")"
done

echo "== unit, emulator and doc tests (each example's emulator tests natively and on its .wasm)"
cargo test --workspace --exclude envoy-tests

echo "== SDK unit tests with the dynamic-module target"
cargo test -p envoy-wasm-sdk --features dynamic-module --lib

echo "== SDK unit tests on wasm32-wasip1 (Wasmtime)"
cargo test -p envoy-wasm-sdk --lib --target wasm32-wasip1

echo "== publish dry run (SDK, macros, CLI)"
# Cargo takes a registry crate's name and version for its content: the sources it once
# extracted from the dry run's local registry, and what it built from them, would stand in
# for a crate changed since. The dry run builds in a folder of its own, where ours are
# cleaned first (their dependencies stay built), and the extracted sources are dropped.
find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -mindepth 2 -maxdepth 2 -path '*/-*/*' \
  \( -name 'envoy-wasm-sdk*' -o -name 'cargo-envoy-wasm-*' \) -exec rm -rf {} + 2>/dev/null || true
export CARGO_TARGET_DIR=target/publish-check
cargo clean --quiet -p envoy-wasm-sdk-macros -p envoy-wasm-sdk -p cargo-envoy-wasm 2>/dev/null || true
cargo publish --dry-run --quiet --allow-dirty -p envoy-wasm-sdk-macros -p envoy-wasm-sdk -p cargo-envoy-wasm
unset CARGO_TARGET_DIR

echo "== integration tests (real Envoy, registry, skopeo, umoci)"
cargo test -p envoy-tests

echo "== Istio's own code (tests/istio, Go): the agent's fetcher and ECDS conversion, istiod's translation, Envoy from its output"
# The CLI and the modules as the Rust tests built them; Go builds Istio once per machine
# (minutes cold, cached in Go's build cache after).
cargo build --quiet -p cargo-envoy-wasm
modules=$(mktemp -d)
trap 'rm -rf "$modules"' EXIT
for example in http_headers tcp_guard; do
  target/debug/cargo-envoy-wasm envoy-wasm build -p "$example" > /dev/null
  cp "target/envoy-wasm/$example/plugin.wasm" "$modules/$example.wasm"
done
(cd tests/istio && ENVOY_WASM_CLI="$PWD/../../target/debug/cargo-envoy-wasm" \
  ENVOY_WASM_MODULE_DIR="$modules" ${GO:-go} test -p 2 -count=1 ./...)
