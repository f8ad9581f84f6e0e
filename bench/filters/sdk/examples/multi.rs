//! multi: read 5 request headers, set 2 request headers, add 1 response header; nothing
//! kept per stream.

use envoy_wasm_sdk::prelude::*;

#[derive(Default)]
pub struct MultiFilter;

#[http_filter(stateless)]
impl HttpFilter for MultiFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        bench_sdk::rewrite_request(req)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        bench_sdk::mark_response(resp, "multi")
    }
}

envoy_wasm_sdk::entry!(bench_sdk::Bench<MultiFilter>);
