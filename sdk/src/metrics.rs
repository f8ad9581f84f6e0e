//! Metrics that show in Envoy's stats (`/stats` and `/stats/prometheus` on the admin port).
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
//! fn on_deny(stats: &Stats) {
//!     // Never fails a request: a failure is logged once.
//!     stats.denied.increment(1);
//! }
//! ```
//!
//! # Labels
//! A [`CounterVec`] (or [`GaugeVec`], [`HistogramVec`]) is a family of metrics told apart
//! by label values, as in Prometheus:
//!
//! ```
//! use envoy_wasm_sdk::metrics::CounterVec;
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let requests = CounterVec::define("rate_limit.requests", &["client", "outcome"])?;
//! requests.with(&["alice", "limited"]).increment(1);
//! # Ok(()) }
//! ```
//!
//! # Names on each target
//!
//! A metric `my_filter.denied` and a family `my_filter.users` with label `user`, seen in
//! Envoy 1.40's `/stats` and `/stats/prometheus`:
//!
//! | target | `/stats` | `/stats/prometheus` |
//! |---|---|---|
//! | Wasm | `wasmcustom.my_filter.denied` | `my_filter_denied` |
//! | Wasm | `wasmcustom.my_filter.users;user=alice` | `my_filter_users_user_alice{}`; with [`stats_tags`] in Envoy's `stats_config`: `my_filter_users{user="alice"}` |
//! | native, `metrics_namespace: wasmcustom` | `wasmcustom.my_filter.denied` | `envoy_wasmcustom_my_filter_denied` |
//! | native, `metrics_namespace: wasmcustom` | `wasmcustom.my_filter.users.user.alice` | `envoy_wasmcustom_my_filter_users{user="alice"}` |
//!
//! Envoy strips the `wasmcustom` namespace from the Prometheus names of Wasm metrics only;
//! a dynamic module's namespace keeps the `envoy_` prefix (the runtime guard
//! `envoy.reloadable_features.dynamic_modules_strip_custom_stat_prefix`, off by default in
//! 1.40, would strip it too). The native target takes labels as Envoy's own tags, declared
//! when the family is defined, so define families in `Plugin::configure`.
//!
//! Updating a metric never fails a request: `increment`, `set`, `add`, `record` and
//! [`MetricVec::with`] log a failure once (per metric, or per family) and go on; `value`
//! and [`MetricVec::try_with`] return the error for code that wants it.
//!
//! # Labels on Wasm
//!
//! The proxy-wasm ABI has no labels, so the SDK writes them into the metric's name
//! (`rate_limit.requests;client=alice;outcome=limited`), and Envoy's tag extraction takes
//! them out again: add what [`stats_tags`] returns to Envoy's bootstrap `stats_config`,
//! and `/stats/prometheus` shows
//! `rate_limit_requests{client="alice",outcome="limited"} 1` (Envoy 1.40 puts a module's
//! metrics in their own namespace: no `envoy_` prefix). `/stats` keeps showing the full
//! name, `wasmcustom.rate_limit.requests;client=alice;outcome=limited`. Without the tags
//! the labels stay in the name, and Prometheus gets one metric per combination. Label values are text; a `;` in one becomes `_`, so it
//! cannot end the label. Each metric's id is looked up once and kept, in a cache of
//! [`DEFAULT_CACHE_LIMIT`] entries per family ([`MetricVec::with_cache_limit`]); past
//! that, ids are looked up again (Envoy keeps every metric either way: keep label values
//! to a bounded set).

use crate::abi::MetricType;
use crate::host::{HostResult, metrics};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

/// The id of a metric that could not be defined: updates to it do nothing.
const NONE: u32 = u32::MAX;

thread_local! {
    /// Metrics whose update failed once (logged then, quiet after).
    static FAILED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// An update's outcome: a failure is logged once per metric, never returned (a metric
/// must not answer a request).
fn updated(id: u32, result: HostResult<()>) {
    if let Err(error) = result {
        let first = FAILED.with_borrow_mut(|failed| {
            let first = !failed.contains(&id);
            if first {
                failed.push(id);
            }
            first
        });
        if first {
            log::error!("metric {id}: {error} (logged once; the metric is left as it is)");
        }
    }
}

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

    /// Adds `by`. A failure is logged once, never returned: a metric does not answer
    /// requests.
    pub fn increment(&self, by: u64) {
        if self.0 != NONE {
            updated(
                self.0,
                metrics::increment(self.0, i64::try_from(by).unwrap_or(i64::MAX)),
            );
        }
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

    /// Sets the value. A failure is logged once, never returned.
    pub fn set(&self, value: u64) {
        if self.0 != NONE {
            updated(self.0, metrics::record(self.0, value));
        }
    }

    /// Adds `delta` (negative to lower it). A failure is logged once, never returned.
    pub fn add(&self, delta: i64) {
        if self.0 != NONE {
            updated(self.0, metrics::increment(self.0, delta));
        }
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

    /// Records one value. A failure is logged once, never returned.
    pub fn record(&self, value: u64) {
        if self.0 != NONE {
            updated(self.0, metrics::record(self.0, value));
        }
    }
}

/// A kind of metric a [`MetricVec`] holds.
pub trait Metric: Copy {
    /// Its kind.
    const KIND: MetricType;
    /// The metric with host id `id`.
    #[doc(hidden)]
    fn from_id(id: u32) -> Self;
}

impl Metric for Counter {
    const KIND: MetricType = MetricType::Counter;
    fn from_id(id: u32) -> Self {
        Counter(id)
    }
}

impl Metric for Gauge {
    const KIND: MetricType = MetricType::Gauge;
    fn from_id(id: u32) -> Self {
        Gauge(id)
    }
}

impl Metric for Histogram {
    const KIND: MetricType = MetricType::Histogram;
    fn from_id(id: u32) -> Self {
        Histogram(id)
    }
}

/// Counters with labels; see [Labels](self#labels).
pub type CounterVec = MetricVec<Counter>;
/// Gauges with labels; see [Labels](self#labels).
pub type GaugeVec = MetricVec<Gauge>;
/// Histograms with labels; see [Labels](self#labels).
pub type HistogramVec = MetricVec<Histogram>;

/// How many label combinations a [`MetricVec`] keeps ids for by default.
pub const DEFAULT_CACHE_LIMIT: usize = 1024;

/// A family of metrics of kind `M`, one per combination of label values.
pub struct MetricVec<M> {
    name: String,
    labels: Vec<String>,
    cache: RefCell<HashMap<Vec<String>, M>>,
    cache_limit: usize,
    /// Whether a failure of `with` was logged.
    failed: std::cell::Cell<bool>,
}

impl<M> fmt::Debug for MetricVec<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricVec")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// A metric family or a use of one that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelError {
    /// A label name is not a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`), or is
    /// repeated.
    BadLabel(String),
    /// `with` got this many values for a family with a different number of labels.
    WrongCount {
        /// Labels of the family.
        expected: usize,
        /// Values given.
        given: usize,
    },
    /// The host refused to define the metric.
    Host(crate::HostError),
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelError::BadLabel(label) => write!(
                f,
                "label `{label}` is not a distinct Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
            ),
            LabelError::WrongCount { expected, given } => {
                write!(f, "{given} label values for {expected} labels")
            }
            LabelError::Host(error) => write!(f, "defining the metric: {error}"),
        }
    }
}

impl std::error::Error for LabelError {}

impl From<crate::HostError> for LabelError {
    fn from(error: crate::HostError) -> LabelError {
        LabelError::Host(error)
    }
}

/// A bad family is a bad configuration: `CounterVec::define(..)?` works in `configure`.
impl From<LabelError> for crate::ConfigError {
    fn from(error: LabelError) -> crate::ConfigError {
        crate::ConfigError::new(error.to_string())
    }
}

impl<M: Metric> MetricVec<M> {
    /// The family `name` with `labels` (Prometheus label names). On wasm nothing is
    /// defined in Envoy until [`with`](MetricVec::with) names the values; on the native
    /// target the family and its label names are declared to Envoy here, so define it in
    /// `Plugin::configure` (Envoy defines a dynamic module's metrics only while it loads
    /// the configuration).
    ///
    /// # Errors
    /// [`LabelError::BadLabel`] for a label that is not a Prometheus label name, or
    /// repeated; [`LabelError::Host`] when the native target's Envoy refuses the family.
    pub fn define(name: &str, labels: &[&str]) -> Result<MetricVec<M>, LabelError> {
        let family = MetricVec::new(name, labels)?;
        // The native host reads `name;label;label` (no values) as a family to declare.
        #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
        metrics::define(M::KIND, &[name, ";", &labels.join(";")].concat())?;
        Ok(family)
    }

    /// The family, its labels checked, not yet declared to any host.
    fn new(name: &str, labels: &[&str]) -> Result<MetricVec<M>, LabelError> {
        for (i, label) in labels.iter().enumerate() {
            let mut chars = label.chars();
            let valid = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !labels[..i].contains(label);
            if !valid {
                return Err(LabelError::BadLabel((*label).to_owned()));
            }
        }
        Ok(MetricVec {
            name: name.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            cache: RefCell::new(HashMap::new()),
            cache_limit: DEFAULT_CACHE_LIMIT,
            failed: std::cell::Cell::new(false),
        })
    }

    /// Keeps ids for at most `limit` label combinations (at least 1).
    #[must_use]
    pub fn with_cache_limit(mut self, limit: usize) -> MetricVec<M> {
        self.cache_limit = limit.max(1);
        self
    }

    /// The metric for these label values, in the order the labels were given. It never
    /// fails a request: a wrong number of values, or a metric the host refuses, is logged
    /// once for the family and gives a metric whose updates do nothing (see
    /// [`try_with`](MetricVec::try_with) to handle it).
    pub fn with(&self, values: &[&str]) -> M {
        self.try_with(values).unwrap_or_else(|error| {
            if !self.failed.replace(true) {
                log::error!("metric family `{}`: {error} (logged once)", self.name);
            }
            M::from_id(NONE)
        })
    }

    /// [`with`](MetricVec::with), with the reason when it cannot give the metric.
    ///
    /// # Errors
    /// [`LabelError::WrongCount`] when the number of values is not the number of labels;
    /// [`LabelError::Host`] when Envoy refuses to define the metric.
    pub fn try_with(&self, values: &[&str]) -> Result<M, LabelError> {
        if values.len() != self.labels.len() {
            return Err(LabelError::WrongCount {
                expected: self.labels.len(),
                given: values.len(),
            });
        }
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        if let Some(metric) = self.cache.borrow().get(&key) {
            return Ok(*metric);
        }
        let metric = M::from_id(metrics::define(M::KIND, &self.full_name(values))?);
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= self.cache_limit {
            cache.clear();
        }
        cache.insert(key, metric);
        Ok(metric)
    }

    /// The name Envoy sees: `name;label=value;label=value`.
    fn full_name(&self, values: &[&str]) -> String {
        let mut name = self.name.clone();
        for (label, value) in self.labels.iter().zip(values) {
            name.push(';');
            name.push_str(label);
            name.push('=');
            name.push_str(&value.replace(';', "_"));
        }
        name
    }

    /// The label names, in order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }
}

/// The `stats_tags` entries of Envoy's bootstrap `stats_config` that turn these labels
/// back into tags, as YAML (indented for `stats_config:`):
///
/// ```yaml
/// stats_config:
///   stats_tags:
///   - tag_name: client
///     regex: "(;client=([^;]*))"
/// ```
///
/// Each regex removes `;label=value` from the name and keeps `value` as the tag's value.
pub fn stats_tags(labels: &[&str]) -> String {
    let mut yaml = String::from("stats_config:\n  stats_tags:\n");
    for label in labels {
        yaml.push_str(&format!(
            "  - tag_name: {label}\n    regex: \"(;{label}=([^;]*))\"\n"
        ));
    }
    yaml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_go_into_the_name_and_back_out_through_tags() {
        // The names alone: no host is needed (`define` also declares the family natively).
        let family = CounterVec::new("rl.requests", &["client", "outcome"]).unwrap();
        assert_eq!(
            family.full_name(&["alice", "a;b"]),
            "rl.requests;client=alice;outcome=a_b"
        );
        assert_eq!(
            stats_tags(&["client"]),
            "stats_config:\n  stats_tags:\n  - tag_name: client\n    regex: \"(;client=([^;]*))\"\n"
        );
    }

    #[test]
    fn bad_labels_and_counts_are_refused() {
        assert_eq!(
            CounterVec::new("x", &["ok", "9bad"]).unwrap_err(),
            LabelError::BadLabel("9bad".into())
        );
        assert_eq!(
            CounterVec::new("x", &["a", "a"]).unwrap_err(),
            LabelError::BadLabel("a".into())
        );
        let family = GaugeVec::new("x", &["a"]).unwrap();
        assert_eq!(
            family.try_with(&["1", "2"]).unwrap_err(),
            LabelError::WrongCount {
                expected: 1,
                given: 2
            }
        );
    }
}
