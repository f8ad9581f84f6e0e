//! header: read `:path` on the request, add one response header.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};
use proxy_wasm_bench::MemoryGauge;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Bench(None)) });
}}

struct Bench(Option<MemoryGauge>);

impl Context for Bench {}

impl RootContext for Bench {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.0 = MemoryGauge::start();
        self.0.is_some()
    }

    fn on_tick(&mut self) {
        self.0.iter().for_each(MemoryGauge::update);
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(HeaderFilter))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct HeaderFilter;

impl Context for HeaderFilter {}

impl HttpContext for HeaderFilter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let path = self.get_http_request_header(":path").unwrap_or_default();
        if !path.starts_with('/') {
            self.send_http_response(400, vec![], Some(b"bad path"));
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        self.add_http_response_header("x-bench", "header");
        Action::Continue
    }
}
