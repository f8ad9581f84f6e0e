//! multi: read 5 request headers, set 2 request headers, add 1 response header; nothing
//! kept per stream.

bench_sdk::stateless_filter!(MultiFilter, bench_sdk::rewrite_request, "multi");

envoy_wasm_sdk::entry!(bench_sdk::Bench<MultiFilter>);
