use envoy_wasm_sdk::network::{NetworkFilter, network_filter};

struct Filter;

#[network_filter(stateless)]
impl NetworkFilter for Filter {}

fn main() {}
