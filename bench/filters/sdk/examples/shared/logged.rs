//! The filter of `header_logged` and `header_logged_plain` (one file, not in the library:
//! `#[http_filter]` exports the filter's callbacks, so one crate holds one filter).

use envoy_wasm_sdk::prelude::*;

/// header, logging one line per request (`info`): the filter of `header_logged` (with the
/// request id first, as every plugin does by default) and `header_logged_plain` (without).
#[derive(Default)]
pub struct LoggedFilter;

#[http_filter(stateless)]
impl HttpFilter for LoggedFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        log::info!("request");
        bench_sdk::check_path(req)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        bench_sdk::mark_response(resp, "header")
    }
}
