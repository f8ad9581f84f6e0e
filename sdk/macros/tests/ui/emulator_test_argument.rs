use envoy_wasm_sdk_macros::emulator_test;

#[emulator_test(wasm_only)]
fn a_test() {}

fn main() {}
