//! Test-only filter: the `x-fault` request header picks a failure.
//!
//! - `error`: `on_request_headers` returns `Error::new` (expect 500, empty body);
//! - `status`: returns `Error::with_status(418, ...)`;
//! - `response-error`: `on_response_headers` returns an error;
//! - `panic`: `on_request_headers` panics.

use envoy_wasm_sdk::prelude::*;
use std::rc::Rc;

/// The plugin.
pub struct Faulty;

impl Plugin for Faulty {
    type Config = ();
    type Filter = FaultyFilter;

    fn configure(_config: (), _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        Ok(Faulty)
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<FaultyFilter> {
        Some(FaultyFilter { fault: None })
    }
}

/// One per request.
pub struct FaultyFilter {
    fault: Option<String>,
}

#[http_filter]
impl HttpFilter for FaultyFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        self.fault = req.headers().get_str("x-fault")?;
        match self.fault.as_deref() {
            Some("error") => Err(Error::new("asked to fail")),
            Some("status") => Err(Error::with_status(418, "asked for a teapot")),
            Some("panic") => panic!("asked to panic"),
            _ => Ok(Action::Continue),
        }
    }

    fn on_response_headers(
        &mut self,
        _resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        match self.fault.as_deref() {
            Some("response-error") => Err(Error::new("asked to fail the response")),
            _ => Ok(Action::Continue),
        }
    }
}

envoy_wasm_sdk::entry!(Faulty);
