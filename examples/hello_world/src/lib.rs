//! `hello_world`: logs when the plugin starts and on each request, and adds
//! `x-hello: world` to every response.

use envoy_wasm_sdk::prelude::*;
use std::rc::Rc;

/// The plugin: no configuration.
pub struct HelloWorld;

impl Plugin for HelloWorld {
    type Config = ();
    type Filter = HelloFilter;

    fn configure(_config: (), ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        let name = ctx.plugin_name();
        log::info!("plugin {name} started");
        Ok(HelloWorld)
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<HelloFilter> {
        Some(HelloFilter)
    }
}

/// One per request.
pub struct HelloFilter;

#[http_filter(stateless)]
impl HttpFilter for HelloFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        let headers = req.headers();
        let method = headers.method()?.unwrap_or_default();
        let path = headers.path()?.unwrap_or_default();
        log::info!("{method} {path}");
        Ok(Action::Continue)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        resp.headers().set("x-hello", "world")?;
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(HelloWorld);
