use envoy_wasm_sdk_macros::emulator_test;

#[emulator_test]
mod tests {}

fn main() {}
