use envoy_wasm_sdk_macros::emulator_test;

#[emulator_test]
fn a_test<T>() {}

fn main() {}
