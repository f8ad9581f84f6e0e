//! Counters, gauges and histograms, plain and of labelled families, on Envoy's stats.
//!
//! A network filter's metrics take no labels in Envoy's ABI: a family's metric is defined
//! under the name the SDK gives it on Wasm (`family;label=value`, whose labels Envoy's
//! `stats_tags` turn into tags), and only while the configuration loads, as every metric.

use super::*;

impl MetricsHost for NativeHost {
    fn proxy_define_metric(&self, call: proxy_define_metric::Args<'_>) -> u32 {
        let Some(plugin) = self.plugin() else {
            return NOT_FOUND;
        };
        if plugin.kind == Kind::Network {
            return network_metric(plugin, call.metric_type, call.name, call.return_id);
        }
        // `name;label=value;..`: one metric of a family declared at configure time.
        if call.name.contains(&b'=') {
            return self.labelled_metric(plugin, call.metric_type, call.name, call.return_id);
        }
        // `name;label;label`: a family with label names (`MetricVec::define`).
        let mut parts = call.name.split(|b| *b == b';');
        let name = parts.next().unwrap_or_default();
        let labels: Vec<Vec<u8>> = parts.map(<[u8]>::to_vec).collect();
        let (kind, config) = (call.metric_type, plugin.envoy);
        let service = plugin.kind == Kind::Service;
        find_or_define(
            plugin,
            kind,
            call.name,
            labels,
            call.return_id,
            |labels, id| {
                let label_names: Vec<ModuleBuffer> =
                    labels.iter().map(|l| ModuleBuffer::of(l)).collect();
                let (names, count) = (label_names.as_ptr(), label_names.len());
                let name = ModuleBuffer::of(name);
                let [counter, gauge, histogram] = family(service).define;
                let define = match MetricType::from_raw(kind)? {
                    MetricType::Counter => counter,
                    MetricType::Gauge => gauge,
                    MetricType::Histogram => histogram,
                }?;
                // SAFETY: Envoy's callback for the configuration being loaded (main thread),
                // with locals valid for the whole call and their lengths beside them.
                Some(unsafe { define(config, name, names, count, id) })
            },
        )
    }

    fn proxy_increment_metric(&self, call: proxy_increment_metric::Args<'_>) -> u32 {
        let by = call.delta.unsigned_abs();
        let change = if call.delta >= 0 {
            Change::Add(by)
        } else {
            Change::Subtract(by)
        };
        self.change(call.metric_id, change)
    }

    fn proxy_record_metric(&self, call: proxy_record_metric::Args<'_>) -> u32 {
        self.change(call.metric_id, Change::Set(call.value))
    }
}

/// The metric callbacks of a service (a bootstrap extension's) or of an HTTP filter: the
/// same arguments either way.
fn family(service: bool) -> dm::MetricCallbacks {
    let callbacks = callbacks();
    if service {
        callbacks.bootstrap_metrics
    } else {
        callbacks.http_filter_metrics
    }
}

/// What a metric call does to the metric's value.
#[derive(Clone, Copy)]
enum Change {
    /// Adds (a counter or gauge).
    Add(u64),
    /// Subtracts (a gauge).
    Subtract(u64),
    /// Sets a gauge, or records a histogram's sample.
    Set(u64),
}

impl NativeHost {
    /// Applies `change` to metric `metric_id`, through the current connection or stream.
    fn change(&self, metric_id: u32, change: Change) -> u32 {
        use MetricType::{Counter, Gauge, Histogram};
        let result = if let Some((metric, c)) = self.connection_metric(metric_id) {
            let id = metric.envoy_id;
            match (MetricType::from_raw(metric.kind), change) {
                (Some(Counter), Change::Add(by)) => {
                    envoy!(network_filter_increment_counter(c, id, by))
                }
                (Some(Gauge), Change::Add(by)) => envoy!(network_filter_increment_gauge(c, id, by)),
                (Some(Gauge), Change::Subtract(by)) => {
                    envoy!(network_filter_decrement_gauge(c, id, by))
                }
                (Some(Gauge), Change::Set(value)) => envoy!(network_filter_set_gauge(c, id, value)),
                (Some(Histogram), Change::Set(value)) => {
                    envoy!(network_filter_record_histogram_value(c, id, value))
                }
                _ => return BAD_ARGUMENT,
            }
        } else {
            // A stream's metrics update through the stream, a service's through its
            // configuration (it has no stream): the same arguments either way.
            let Some((metric, values)) = self.metric(metric_id) else {
                return NOT_FOUND;
            };
            let service = self.service();
            let Some(target) = service.map(|p| p.envoy).or(self.filter()) else {
                return NOT_FOUND;
            };
            let [add_counter, add_gauge, subtract_gauge, set_gauge, record] =
                family(service.is_some()).update;
            let (update, value) = match (MetricType::from_raw(metric.kind), change) {
                (Some(Counter), Change::Add(by)) => (add_counter, by),
                (Some(Gauge), Change::Add(by)) => (add_gauge, by),
                (Some(Gauge), Change::Subtract(by)) => (subtract_gauge, by),
                (Some(Gauge), Change::Set(value)) => (set_gauge, value),
                (Some(Histogram), Change::Set(value)) => (record, value),
                _ => return BAD_ARGUMENT,
            };
            let (id, v, n) = (metric.envoy_id, values.as_ptr(), values.len());
            // SAFETY: Envoy's callback for the stream whose hook runs (or the service's
            // configuration, on the main thread), with the label values alive for the call.
            update.map(|update| unsafe { update(target, id, v, n, value) })
        };
        metrics_status(result)
    }

    /// Metric `id` of the current connection's plugin, and the connection to update it
    /// through; `None` outside a connection.
    fn connection_metric(&self, id: u32) -> Option<(&'static Metric, NetworkFilterEnvoyPtr)> {
        let connection = self.connection()?;
        let plugin = self
            .plugin()
            .filter(|plugin| plugin.kind == Kind::Network)?;
        Some((plugin.metrics().get(id as usize)?, connection))
    }

    /// Metric `id` of the current plugin and its label values (none for a plain metric).
    fn metric(&self, id: u32) -> Option<(&'static Metric, Vec<ModuleBuffer>)> {
        let plugin = self.plugin()?;
        let (metric, values) = if id >= LABELLED {
            let labelled = self.labelled.borrow();
            let (family_plugin, family, values) = labelled.get((id - LABELLED) as usize)?;
            if !std::ptr::eq(*family_plugin, plugin) {
                return None;
            }
            let buffers = values.iter().map(|v| ModuleBuffer::of(v)).collect();
            // SAFETY of the buffers: they point into `self.labelled`'s values, which are
            // never removed or changed while this thread runs (only appended to).
            (plugin.metrics().get(*family)?, buffers)
        } else {
            (plugin.metrics().get(id as usize)?, Vec::new())
        };
        Some((metric, values))
    }

    /// Finds (or makes) the metric `name` (`family;label=value;..`) of a family the
    /// configuration declared with those labels.
    fn labelled_metric(
        &self,
        plugin: &'static PluginConfig,
        kind: u32,
        name: &[u8],
        return_id: &mut u32,
    ) -> u32 {
        let mut parts = name.split(|b| *b == b';');
        let family_name = parts.next().unwrap_or_default();
        let (labels, values): (Vec<&[u8]>, Vec<Vec<u8>>) = parts
            .map(|pair| {
                let at = pair.iter().position(|b| *b == b'=').unwrap_or(pair.len());
                (&pair[..at], pair.get(at + 1..).unwrap_or_default().to_vec())
            })
            .unzip();
        // While the configuration loads, the families defined so far (in the order they
        // are frozen in).
        let defining;
        let metrics: &[Metric] = if plugin.metrics.get().is_some() {
            plugin.metrics()
        } else {
            defining = plugin
                .defining
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default();
            &defining
        };
        let family = metrics.iter().position(|m| {
            m.kind == kind
                && m.name.split(|b| *b == b';').next() == Some(family_name)
                && m.labels
                    .iter()
                    .map(Vec::as_slice)
                    .eq(labels.iter().copied())
        });
        let Some(family) = family else {
            // Not declared while the configuration loaded: Envoy would refuse it now.
            return BAD_ARGUMENT;
        };
        let mut labelled = self.labelled.borrow_mut();
        let index = match labelled
            .iter()
            .position(|(p, f, v)| std::ptr::eq(*p, plugin) && *f == family && *v == values)
        {
            Some(index) => index,
            None => {
                labelled.push((plugin, family, values));
                labelled.len() - 1
            }
        };
        *return_id = LABELLED + index as u32;
        OK
    }
}

/// Defines (or finds) metric `name` of network filter configuration `plugin`: a plain
/// metric, a family's declaration (`name;label;..`: nothing to define in Envoy), or one
/// metric of a family (`name;label=value;..`, defined under that name).
fn network_metric(
    plugin: &'static PluginConfig,
    kind: u32,
    name: &[u8],
    return_id: &mut u32,
) -> u32 {
    // A family's declaration has nothing to define in Envoy.
    let declaration = name.contains(&b';') && !name.contains(&b'=');
    let config = plugin.envoy;
    find_or_define(plugin, kind, name, Vec::new(), return_id, |_, id| {
        let buffer = ModuleBuffer::of(name);
        match MetricType::from_raw(kind)? {
            _ if declaration => Some(dm::metrics_result::SUCCESS),
            MetricType::Counter => envoy!(network_filter_config_define_counter(config, buffer, id)),
            MetricType::Gauge => envoy!(network_filter_config_define_gauge(config, buffer, id)),
            MetricType::Histogram => {
                envoy!(network_filter_config_define_histogram(config, buffer, id))
            }
        }
    })
}

/// Finds metric `name` of kind `kind` of configuration `plugin`, or, while the
/// configuration loads, defines it in Envoy with `define` (given the label names and
/// where Envoy puts its id; it answers Envoy's result).
fn find_or_define(
    plugin: &'static PluginConfig,
    kind: u32,
    name: &[u8],
    labels: Vec<Vec<u8>>,
    return_id: &mut u32,
    define: impl FnOnce(&[Vec<u8>], &mut usize) -> Option<u32>,
) -> u32 {
    let find = |metrics: &[Metric]| {
        metrics
            .iter()
            .position(|m| m.kind == kind && m.name == name)
    };
    if plugin.metrics.get().is_some() {
        // Loaded: Envoy defines no more, but a worker finds what the main thread made.
        return match find(plugin.metrics()) {
            Some(index) => {
                *return_id = index as u32;
                OK
            }
            None => BAD_ARGUMENT,
        };
    }
    let Ok(mut defining) = plugin.defining.lock() else {
        return INTERNAL_FAILURE;
    };
    if let Some(index) = find(&defining) {
        *return_id = index as u32;
        return OK;
    }
    let mut envoy_id = 0usize;
    if define(&labels, &mut envoy_id) != Some(dm::metrics_result::SUCCESS) {
        return BAD_ARGUMENT;
    }
    defining.push(Metric {
        kind,
        name: name.to_vec(),
        labels,
        envoy_id,
    });
    *return_id = (defining.len() - 1) as u32;
    OK
}

fn metrics_status(result: Option<u32>) -> u32 {
    match result {
        Some(dm::metrics_result::SUCCESS) => OK,
        Some(_) => BAD_ARGUMENT,
        None => UNIMPLEMENTED,
    }
}
