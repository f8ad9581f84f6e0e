//! header: read `:path` on the request, add one response header.

use bench_sdk::MemoryGauge;
use envoy_wasm_sdk::prelude::*;
use std::rc::Rc;

pub struct Bench(MemoryGauge);

impl Plugin for Bench {
    type Config = ();
    type Filter = HeaderFilter;

    fn configure(_config: (), ctx: &mut ConfigureOps) -> Result<Self, ConfigError> {
        Ok(Bench(MemoryGauge::start(ctx)?))
    }

    fn create_filter(self: Rc<Self>) -> HeaderFilter {
        HeaderFilter
    }

    fn on_tick(&self, _ops: &mut PluginOps) {
        self.0.update();
    }
}

pub struct HeaderFilter;

#[http_filter(stateless)]
impl HttpFilter for HeaderFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps) -> Result<Action, Error> {
        match req.headers().path()? {
            Some(path) if path.starts_with(b"/") => Ok(Action::Continue),
            _ => Err(Error::with_status(400, "bad path")),
        }
    }

    fn on_response_headers(&mut self, resp: &mut ResponseHeadersOps) -> Result<Action, Error> {
        resp.headers().add("x-bench", "header")?;
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(Bench);
