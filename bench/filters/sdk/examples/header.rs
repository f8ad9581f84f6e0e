//! header: read `:path` on the request, add one response header; nothing kept per stream.

bench_sdk::stateless_filter!(HeaderFilter, bench_sdk::check_path, "header");

envoy_wasm_sdk::entry!(bench_sdk::Bench<HeaderFilter>);
