//! header, logging one line per request (`info`) without the request id
//! (`LOG_REQUEST_ID = false`); beside `header_logged`, it measures the prefix's cost.

#[path = "shared/logged.rs"]
mod logged;

envoy_wasm_sdk::entry!(bench_sdk::Bench<logged::LoggedFilter, false>);
