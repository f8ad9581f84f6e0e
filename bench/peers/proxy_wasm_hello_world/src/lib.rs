//! hello_world on the proxy-wasm crate: logs when the plugin starts and on each request,
//! adds `x-hello: world` to every response. Same behaviour as examples/hello_world.

use log::info;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(HelloRoot) });
}}

struct HelloRoot;

impl Context for HelloRoot {}

impl RootContext for HelloRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let name = self
            .get_property(vec!["plugin_name"])
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        info!("hello_world: plugin {name} started");
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(HelloFilter))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct HelloFilter;

impl Context for HelloFilter {}

impl HttpContext for HelloFilter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let method = self.get_http_request_header(":method").unwrap_or_default();
        let path = self.get_http_request_header(":path").unwrap_or_default();
        info!("hello_world: {method} {path}");
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        self.set_http_response_header("x-hello", Some("world"));
        Action::Continue
    }
}
