//! multi: read 5 request headers, set 2 request headers, add 1 response header.

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

proxy_wasm::main! {{
    proxy_wasm_bench::start(|| Box::new(MultiFilter));
}}

struct MultiFilter;

impl Context for MultiFilter {}

impl HttpContext for MultiFilter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let method = self.get_http_request_header(":method").unwrap_or_default();
        let authority = self.get_http_request_header(":authority").unwrap_or_default();
        let path = self.get_http_request_header(":path").unwrap_or_default();
        let b1 = self.get_http_request_header("x-b1").unwrap_or_default();
        let b2 = self.get_http_request_header("x-b2").unwrap_or_default();
        self.set_http_request_header("x-target", Some(&format!("{method} {authority}{path}")));
        self.set_http_request_header("x-route", Some(&format!("{b1}/{b2}")));
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        self.add_http_response_header("x-bench", "multi");
        Action::Continue
    }
}

