#!/usr/bin/env bash
# Regenerates every example's deploy/ folder with `cargo envoy-wasm`: schema.json and the
# manifests for the image oci://registry.example.com/envoy-wasm-sdk/EXAMPLE:VERSION, with
# deploy/config.json (when there is one) as the plugin configuration, for the workloads
# labelled app=EXAMPLE (inbound; a network filter on port 9000). The image is packaged
# first (not pushed: registry.example.com is a placeholder) and its recorded digest is the
# manifests' sha256. The integration test `deploy::examples_carry_fresh_manifests_and_schemas`
# fails when these files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p cargo-envoy-wasm
cli=target/debug/cargo-envoy-wasm
version=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "envoy-wasm-sdk"))')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for dir in examples/*/; do
  dir=${dir%/}
  example=$(basename "$dir")
  config=()
  [ -f "$dir/deploy/config.json" ] && config=(--config "$dir/deploy/config.json")
  scope=(--selector "app=$example")
  [ "$example" = tcp_guard ] && scope+=(--port 9000)
  "$cli" envoy-wasm schema -p "$example" > "$dir/deploy/schema.json"
  "$cli" envoy-wasm package -p "$example" --tag "$example:$version" --out "$work/$example/oci" > /dev/null
  "$cli" envoy-wasm manifests -p "$example" "${config[@]}" "${scope[@]}" --out "$dir/deploy" \
    --record "$work/$example/image.json" \
    --image "oci://registry.example.com/envoy-wasm-sdk/$example:$version"
done
