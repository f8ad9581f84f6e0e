use envoy_wasm_sdk::network::network_filter;
use envoy_wasm_sdk::prelude::*;

struct Filter;

#[network_filter]
impl HttpFilter for Filter {}

fn main() {}
