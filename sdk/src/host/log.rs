//! Logging to the host.

use super::{HostResult, check};
use crate::abi::{LogLevel, imports::safe as abi};

/// Logs `message` at `level`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn log(level: LogLevel, message: &str) -> HostResult<()> {
    check(
        "proxy_log",
        abi::proxy_log(level as u32, message.as_bytes()),
    )
}

/// The level the host logs at: messages below it are dropped by the host anyway.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn level() -> HostResult<LogLevel> {
    let mut raw = 0u32;
    check("proxy_get_log_level", abi::proxy_get_log_level(&mut raw))?;
    Ok(LogLevel::from_raw(raw))
}
