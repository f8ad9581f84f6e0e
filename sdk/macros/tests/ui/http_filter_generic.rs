use envoy_wasm_sdk::prelude::*;

struct Filter<T>(T);

#[http_filter]
impl<T: 'static> HttpFilter for Filter<T> {}

fn main() {}
