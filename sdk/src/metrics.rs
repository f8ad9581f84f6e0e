//! Metrics that show in Envoy's stats (`/stats` on the admin port).
//!
//! Define them once, when the plugin is configured, and keep them in the plugin:
//!
//! ```
//! use envoy_wasm_sdk::metrics::Counter;
//! use envoy_wasm_sdk::HostResult;
//!
//! struct Stats {
//!     denied: Counter,
//! }
//!
//! fn define() -> HostResult<Stats> {
//!     // Envoy shows it as `wasmcustom.my_filter.denied` (Envoy prefixes custom metrics).
//!     Ok(Stats { denied: Counter::define("my_filter.denied")? })
//! }
//!
//! fn on_deny(stats: &Stats) -> HostResult<()> {
//!     stats.denied.increment(1)
//! }
//! ```

use crate::abi::MetricType;
use crate::host::{HostResult, metrics};

/// A monotonic counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter(u32);

impl Counter {
    /// Defines (or finds) counter `name`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn define(name: &str) -> HostResult<Counter> {
        metrics::define(MetricType::Counter, name).map(Counter)
    }

    /// Adds `by`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn increment(&self, by: u64) -> HostResult<()> {
        metrics::increment(self.0, i64::try_from(by).unwrap_or(i64::MAX))
    }

    /// The current value.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn value(&self) -> HostResult<u64> {
        metrics::get(self.0)
    }
}

/// A value that goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauge(u32);

impl Gauge {
    /// Defines (or finds) gauge `name`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn define(name: &str) -> HostResult<Gauge> {
        metrics::define(MetricType::Gauge, name).map(Gauge)
    }

    /// Sets the value.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn set(&self, value: u64) -> HostResult<()> {
        metrics::record(self.0, value)
    }

    /// Adds `delta` (negative to lower it).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn add(&self, delta: i64) -> HostResult<()> {
        metrics::increment(self.0, delta)
    }

    /// The current value.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn value(&self) -> HostResult<u64> {
        metrics::get(self.0)
    }
}

/// A distribution of values (latencies, sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram(u32);

impl Histogram {
    /// Defines (or finds) histogram `name`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn define(name: &str) -> HostResult<Histogram> {
        metrics::define(MetricType::Histogram, name).map(Histogram)
    }

    /// Records one value.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn record(&self, value: u64) -> HostResult<()> {
        metrics::record(self.0, value)
    }
}
