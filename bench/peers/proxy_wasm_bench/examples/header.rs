//! header: read `:path` on the request, add one response header.

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

proxy_wasm::main! {{
    proxy_wasm_bench::start(|| Box::new(HeaderFilter));
}}

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
