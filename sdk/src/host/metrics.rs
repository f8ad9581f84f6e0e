//! Metrics (Envoy stats).

use super::{HostResult, check};
use crate::abi::{MetricType, imports as abi};

/// Defines metric `name` of `kind` and returns its id (defining again returns the same).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn define(kind: MetricType, name: &str) -> HostResult<u32> {
    let mut id = 0u32;
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_define_metric", unsafe {
        abi::proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id)
    })?;
    Ok(id)
}

/// Adds `delta` to a counter or gauge.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn increment(id: u32, delta: i64) -> HostResult<()> {
    // SAFETY: the import takes integers only: no memory is shared.
    check("proxy_increment_metric", unsafe {
        abi::proxy_increment_metric(id, delta)
    })
}

/// Sets a gauge, or records a histogram value.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn record(id: u32, value: u64) -> HostResult<()> {
    // SAFETY: the import takes integers only: no memory is shared.
    check("proxy_record_metric", unsafe {
        abi::proxy_record_metric(id, value)
    })
}

/// Reads a metric.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn get(id: u32) -> HostResult<u64> {
    let mut value = 0u64;
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_get_metric", unsafe {
        abi::proxy_get_metric(id, &mut value)
    })?;
    Ok(value)
}
