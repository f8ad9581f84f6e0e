use envoy_wasm_sdk::prelude::*;

struct Counts(u32);

#[http_filter(stateless)]
impl HttpFilter for Counts {}

fn main() {}
