use envoy_wasm_sdk::prelude::*;

#[http_filter]
pub struct Filter;

fn main() {}
