//! Test-only filter: a stateless filter (`#[http_filter(stateless)]`) with plain-text
//! configuration, `serve:<name>` or `decline:<name>` (no JSON), for several configurations
//! of one module in one VM. Each configuration counts the streams it is asked for in
//! `binding.<name>.asked`, and declines them or serves them with the stateless filter,
//! which adds response header `x-stateless: yes`. It logs without the request id.

use envoy_wasm_sdk::metrics::Counter;
use envoy_wasm_sdk::prelude::*;
use std::rc::Rc;

/// The stateless plugin: plain-text configuration.
pub struct Count {
    serve: bool,
    asked: Counter,
}

impl Plugin for Count {
    type Config = String;
    type Filter = Stateless;
    const LOG_REQUEST_ID: bool = false;

    fn configure(config: String, _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        let (serve, name) = match config.split_once(':') {
            Some(("serve", name)) => (true, name),
            Some(("decline", name)) => (false, name),
            _ => {
                return Err(ConfigError::new(format!(
                    "expected `serve:<name>` or `decline:<name>`, found {config:?}"
                )));
            }
        };
        Ok(Count {
            serve,
            asked: Counter::define(&format!("binding.{name}.asked"))?,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<Stateless> {
        self.asked.increment(1);
        self.serve.then_some(Stateless)
    }
}

/// Holds nothing.
pub struct Stateless;

#[http_filter(stateless)]
impl HttpFilter for Stateless {
    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        log::info!("stateless response headers");
        resp.headers().add("x-stateless", "yes")?;
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(Count);
