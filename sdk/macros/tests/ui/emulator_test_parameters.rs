use envoy_wasm_sdk_macros::emulator_test;

#[emulator_test]
fn a_test(requests: u32) {
    assert!(requests > 0);
}

fn main() {}
