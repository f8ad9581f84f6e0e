//! Test-only filter: the `x-probe` request header picks what it does.
//!
//! - `repeated`: puts the first value of the request's `x-rep` (what `get` returns) in
//!   `x-rep-first`, and every value joined with `|` in `x-rep-all`;
//! - `chain`: calls the `service` cluster as `Bearer bad`, and from that response's
//!   handler calls it again as `Bearer good`; then lets the request go on with
//!   `x-chain: <first status>,<second status>` and the second response's `x-user`;
//! - `timer`: holds the request; the plugin's timer (every 20 ms) lets it go on, with
//!   `x-held: timer`.

use envoy_wasm_sdk::callout::{CalloutError, HttpRequest, HttpResponse};
use envoy_wasm_sdk::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The plugin: it keeps the streams its timer will resume.
pub struct Probe {
    held: RefCell<Vec<Stream>>,
}

impl Plugin for Probe {
    type Config = ();
    type Filter = ProbeFilter;

    fn configure(_config: (), ctx: &mut ConfigureOps) -> Result<Self, ConfigError> {
        ctx.set_tick_period(Duration::from_millis(20))?;
        Ok(Probe {
            held: RefCell::new(Vec::new()),
        })
    }

    fn create_filter(self: Rc<Self>) -> ProbeFilter {
        ProbeFilter { plugin: self }
    }

    fn on_tick(&self, _ops: &mut PluginOps) {
        for stream in self.held.borrow_mut().drain(..) {
            if let Err(error) = stream.resume_request() {
                log::error!("cannot resume a held request: {error}");
            }
        }
    }
}

/// One per request.
pub struct ProbeFilter {
    plugin: Rc<Probe>,
}

fn status(response: &Result<HttpResponse, CalloutError>) -> String {
    match response {
        Ok(response) => response.status.to_string(),
        Err(failure) => format!("failed ({failure})"),
    }
}

fn check(authorization: &str) -> HttpRequest {
    HttpRequest::get("service", "/check")
        .header("authorization", authorization)
        .timeout(Duration::from_secs(2))
}

#[http_filter]
impl HttpFilter for ProbeFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        match req.headers().get_str("x-probe")?.as_deref() {
            Some("repeated") => {
                let mut headers = req.headers();
                let first = headers.get("x-rep")?.unwrap_or_default();
                let all: Vec<String> = headers
                    .get_all("x-rep")?
                    .iter()
                    .map(|value| value.to_str_lossy().into_owned())
                    .collect();
                headers.set("x-rep-first", first)?;
                headers.set("x-rep-all", all.join("|"))?;
                Ok(Action::Continue)
            }
            Some("chain") => {
                req.http_call(check("Bearer bad"), |_this, first, ops| {
                    let first = status(&first);
                    ops.http_call(check("Bearer good"), move |_this, second, ops| {
                        let mut headers = ops.request_headers();
                        headers.set("x-chain", format!("{first},{}", status(&second)))?;
                        if let Ok(response) = &second {
                            headers.set("x-user", response.header("x-user").unwrap_or("-"))?;
                        }
                        ops.resume_request()?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                Ok(Action::Pause)
            }
            Some("timer") => {
                req.headers().set("x-held", "timer")?;
                self.plugin.held.borrow_mut().push(req.stream());
                Ok(Action::Pause)
            }
            _ => Ok(Action::Continue),
        }
    }
}

envoy_wasm_sdk::entry!(Probe);
