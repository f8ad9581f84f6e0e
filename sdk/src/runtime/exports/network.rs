//! TCP (network filter) callbacks. The SDK has no network filter trait yet, so each
//! answers "continue" and the connection is left as it is.

use crate::abi::Action;

/// A downstream connection was accepted.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_new_connection(_context_id: u32) -> u32 {
    Action::Continue.raw()
}

/// Bytes arrived from downstream.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_downstream_data(
    _context_id: u32,
    _size: usize,
    _end_of_stream: u32,
) -> u32 {
    Action::Continue.raw()
}

/// Bytes arrived from upstream.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_upstream_data(
    _context_id: u32,
    _size: usize,
    _end_of_stream: u32,
) -> u32 {
    Action::Continue.raw()
}

/// The downstream connection closed.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_downstream_connection_close(_context_id: u32, _peer_type: u32) {}

/// The upstream connection closed.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_upstream_connection_close(_context_id: u32, _peer_type: u32) {}
