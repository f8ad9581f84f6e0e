//! A wasm module Envoy accepts as an HTTP filter that does nothing per request: it exports
//! no stream callback, so each request costs only the stream context's creation.
#![cfg(target_arch = "wasm32")]

// Shared with the hand-written filter, of which this module uses only the gauge.
#[allow(dead_code)]
#[path = "../../raw.rs"]
mod raw;

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_context_create(_context: u32, _parent: u32) {}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(_root: u32, size: usize) -> u32 {
    raw::configure(size);
    1
}
