//! header: read `:path` on the request, add one response header; nothing kept per stream.

use envoy_wasm_sdk::prelude::*;

#[derive(Default)]
pub struct HeaderFilter;

#[http_filter(stateless)]
impl HttpFilter for HeaderFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        bench_sdk::check_path(req)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        bench_sdk::mark_response(resp, "header")
    }
}

envoy_wasm_sdk::entry!(bench_sdk::Bench<HeaderFilter>);
