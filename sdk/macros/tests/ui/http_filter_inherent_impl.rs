use envoy_wasm_sdk::prelude::*;

struct Filter;

#[http_filter]
impl Filter {
    fn on_request_headers(&mut self) {}
}

fn main() {}
