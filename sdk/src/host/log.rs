//! Logging to the host.

use super::{HostResult, check};
use crate::abi::{LogLevel, imports as abi};

/// Logs `message` at `level`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn log(level: LogLevel, message: &str) -> HostResult<()> {
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_log", unsafe {
        abi::proxy_log(level as u32, message.as_ptr(), message.len())
    })
}

/// The level the host logs at: messages below it are dropped by the host anyway.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn level() -> HostResult<LogLevel> {
    let mut raw = 0u32;
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_get_log_level", unsafe {
        abi::proxy_get_log_level(&mut raw)
    })?;
    Ok(LogLevel::from_raw(raw))
}
