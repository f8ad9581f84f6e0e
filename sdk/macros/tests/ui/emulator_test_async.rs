use envoy_wasm_sdk_macros::emulator_test;

#[emulator_test]
async fn a_test() {}

fn main() {}
