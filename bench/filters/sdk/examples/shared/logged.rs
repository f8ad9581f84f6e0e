//! The filter of `header_logged` and `header_logged_plain` (one file, not in the library:
//! `#[http_filter]` exports the filter's callbacks, so one crate holds one filter).

use envoy_wasm_sdk::prelude::*;

/// The header workload's request half, after one log line (`info`).
#[inline]
fn log_and_check_path<F>(req: &mut RequestHeadersOps<F>) -> Result<Action, Error> {
    log::info!("request");
    bench_sdk::check_path(req)
}

bench_sdk::stateless_filter!(
    /// header, logging one line per request (`info`): the filter of `header_logged` (with the
    /// request id first, as every plugin does by default) and `header_logged_plain` (without).
    LoggedFilter,
    log_and_check_path,
    "header"
);
