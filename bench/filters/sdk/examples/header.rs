//! header: read `:path` on the request, add one response header.

use envoy_wasm_sdk::prelude::*;

#[derive(Default)]
pub struct HeaderFilter;

#[http_filter(stateless)]
impl HttpFilter for HeaderFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        match req.headers().path()? {
            Some(path) if path.starts_with(b"/") => Ok(Action::Continue),
            _ => Err(Error::with_status(400, "bad path")),
        }
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        resp.headers().add("x-bench", "header")?;
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(bench_sdk::Bench<HeaderFilter>);
