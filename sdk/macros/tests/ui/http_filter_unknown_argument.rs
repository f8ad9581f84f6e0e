use envoy_wasm_sdk::prelude::*;

struct Filter;

#[http_filter(stateles)]
impl HttpFilter for Filter {}

fn main() {}
