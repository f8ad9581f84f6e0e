//! Context switching.

use super::{HostResult, check};
use crate::abi::imports::safe as abi;

/// Makes later host calls act on `context_id` (needed outside that context's callbacks).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn set_effective_context(context_id: u32) -> HostResult<()> {
    check(
        "proxy_set_effective_context",
        abi::proxy_set_effective_context(context_id),
    )
}

/// Tells the host a context that returned "not done" from `proxy_on_done` is done.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn done() -> HostResult<()> {
    check("proxy_done", abi::proxy_done())
}
