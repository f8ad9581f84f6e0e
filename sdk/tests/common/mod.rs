//! What several of the SDK's integration tests share (`mod common;`).

use envoy_wasm_sdk::testing::Emulator;

#[path = "../../../tests/filters/plain.rs"]
mod plain;
pub use plain::Plain;

/// An emulator with `register_plugin`'s plugin, configured with an empty configuration.
#[allow(dead_code, reason = "not every test file configures this way")]
pub fn configured(register_plugin: fn()) -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure("").expect("configures");
    envoy
}
