//! Counters, gauges and histograms.

use super::*;

impl MetricsHost for EmulatorHost {
    fn proxy_define_metric(&self, call: proxy_define_metric::Args<'_>) -> u32 {
        let Some(kind) = MetricType::from_raw(call.metric_type) else {
            return BAD_ARGUMENT;
        };
        let name = String::from_utf8_lossy(call.name).into_owned();
        let mut state = self.state.borrow_mut();
        let index = match state
            .metrics
            .iter()
            .position(|m| m.name == name && m.kind == kind)
        {
            Some(index) => index,
            None => {
                state.metrics.push(Metric {
                    name,
                    kind,
                    value: 0,
                    recorded: Vec::new(),
                });
                state.metrics.len() - 1
            }
        };
        *call.return_id = index as u32 + 1;
        OK
    }

    fn proxy_record_metric(&self, call: proxy_record_metric::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(metric) = state.metric(call.metric_id) else {
            return NOT_FOUND;
        };
        metric.value = call.value;
        if metric.kind == MetricType::Histogram {
            metric.recorded.push(call.value);
        }
        OK
    }

    fn proxy_increment_metric(&self, call: proxy_increment_metric::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(metric) = state.metric(call.metric_id) else {
            return NOT_FOUND;
        };
        let delta = call.delta;
        match metric.kind {
            MetricType::Counter if delta < 0 => BAD_ARGUMENT,
            MetricType::Histogram => BAD_ARGUMENT,
            _ => {
                metric.value = metric.value.saturating_add_signed(delta);
                OK
            }
        }
    }

    fn proxy_get_metric(&self, call: proxy_get_metric::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(metric) = state.metric(call.metric_id) else {
            return NOT_FOUND;
        };
        *call.return_value = metric.value;
        OK
    }
}

impl State {
    /// Metric ids are 1-based positions in the list.
    fn metric(&mut self, id: u32) -> Option<&mut Metric> {
        self.metrics.get_mut((id as usize).wrapping_sub(1))
    }
}
