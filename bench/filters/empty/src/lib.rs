//! A wasm module Envoy accepts as an HTTP filter that does nothing per request: it exports
//! no stream callback, not even context creation, so a request never enters the VM and
//! costs only Envoy's own bookkeeping of a wasm filter on the stream.
#![cfg(target_arch = "wasm32")]

// Shared with the hand-written filter, of which this module uses only the gauge.
#[allow(dead_code)]
#[path = "../../raw.rs"]
mod raw;

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(_root: u32, size: usize) -> u32 {
    raw::configure(size);
    1
}
