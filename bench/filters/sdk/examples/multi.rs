//! multi: read 5 request headers, set 2 request headers, add 1 response header.

use envoy_wasm_sdk::prelude::*;

#[derive(Default)]
pub struct MultiFilter;

#[http_filter(stateless)]
impl HttpFilter for MultiFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        // One host call for all five reads.
        let snapshot = req.headers().snapshot()?;
        let get = |name: &str| snapshot.get(name).unwrap_or_default();
        let target = [get(":method"), b" ", get(":authority"), get(":path")].concat();
        let route = [get("x-b1"), b"/", get("x-b2")].concat();
        let mut headers = req.headers();
        headers.set("x-target", target)?;
        headers.set("x-route", route)?;
        Ok(Action::Continue)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        resp.headers().add("x-bench", "multi")?;
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(bench_sdk::Bench<MultiFilter>);
