use envoy_wasm_sdk::network::NetworkFilter;
use envoy_wasm_sdk::prelude::*;

struct Filter;

#[http_filter]
impl NetworkFilter for Filter {}

fn main() {}
