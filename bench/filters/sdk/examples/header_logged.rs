//! header, logging one line per request (`info`) with the request id first, as every
//! plugin does by default. Beside `header_logged_plain`, it measures the prefix's cost.

#[path = "shared/logged.rs"]
mod logged;

envoy_wasm_sdk::entry!(bench_sdk::Bench<logged::LoggedFilter, true>);
