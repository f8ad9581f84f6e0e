//! Metrics (Envoy stats).

use super::{HostResult, check};
use crate::abi::{MetricType, imports::safe as abi};

/// Defines metric `name` of `kind` and returns its id (defining again returns the same).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn define(kind: MetricType, name: &str) -> HostResult<u32> {
    let mut id = 0u32;
    check(
        "proxy_define_metric",
        abi::proxy_define_metric(kind as u32, name.as_bytes(), &mut id),
    )?;
    Ok(id)
}

/// Adds `delta` to a counter or gauge.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn increment(id: u32, delta: i64) -> HostResult<()> {
    check(
        "proxy_increment_metric",
        abi::proxy_increment_metric(id, delta),
    )
}

/// Sets a gauge, or records a histogram value.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn record(id: u32, value: u64) -> HostResult<()> {
    check("proxy_record_metric", abi::proxy_record_metric(id, value))
}

/// Reads a metric.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn get(id: u32) -> HostResult<u64> {
    let mut value = 0u64;
    check("proxy_get_metric", abi::proxy_get_metric(id, &mut value))?;
    Ok(value)
}
