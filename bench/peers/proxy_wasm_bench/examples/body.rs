//! body: buffer the JSON request body, replace the top-level `password` and `card`,
//! forward the rewritten body.

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

proxy_wasm::main! {{
    proxy_wasm_bench::start(|| Box::new(BodyFilter));
}}

struct BodyFilter;

impl Context for BodyFilter {}

impl HttpContext for BodyFilter {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            self.set_http_request_header("content-length", None);
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&body) else {
            self.send_http_response(400, vec![], Some(b"invalid JSON"));
            return Action::Pause;
        };
        if let Some(fields) = json.as_object_mut() {
            for name in ["password", "card"] {
                if let Some(value) = fields.get_mut(name) {
                    *value = serde_json::Value::from("[redacted]");
                }
            }
        }
        let rewritten = serde_json::to_vec(&json).unwrap_or_default();
        self.set_http_request_body(0, body_size, &rewritten);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        self.add_http_response_header("x-bench", "body");
        Action::Continue
    }
}
