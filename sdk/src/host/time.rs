//! Clock and timer.

use super::{HostResult, check};
use crate::abi::imports::safe as abi;
use std::time::{Duration, SystemTime};

/// The host's current time (it may be frozen for the length of a callback).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn now() -> HostResult<SystemTime> {
    let mut nanos = 0u64;
    check(
        "proxy_get_current_time_nanoseconds",
        abi::proxy_get_current_time_nanoseconds(&mut nanos),
    )?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Calls the plugin's tick every `period` (whole milliseconds); zero stops the timer.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn set_tick_period(period: Duration) -> HostResult<()> {
    let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    check(
        "proxy_set_tick_period_milliseconds",
        abi::proxy_set_tick_period_milliseconds(millis),
    )
}
