//! Counters, gauges and histograms.

use super::*;

impl MetricsHost for EmulatorHost {
    unsafe fn proxy_define_metric(
        &self,
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32 {
        let Some(kind) = MetricType::from_raw(metric_type) else {
            return BAD_ARGUMENT;
        };
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let name = String::from_utf8_lossy(unsafe { bytes(name_data, name_size) }).into_owned();
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
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_id = index as u32 + 1 };
        OK
    }

    unsafe fn proxy_record_metric(&self, metric_id: u32, value: u64) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(metric) = state.metrics.get_mut((metric_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        metric.value = value;
        if metric.kind == MetricType::Histogram {
            metric.recorded.push(value);
        }
        OK
    }

    unsafe fn proxy_increment_metric(&self, metric_id: u32, delta: i64) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(metric) = state.metrics.get_mut((metric_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        match metric.kind {
            MetricType::Counter if delta < 0 => BAD_ARGUMENT,
            MetricType::Histogram => BAD_ARGUMENT,
            _ => {
                metric.value = metric.value.saturating_add_signed(delta);
                OK
            }
        }
    }

    unsafe fn proxy_get_metric(&self, metric_id: u32, return_value: *mut u64) -> u32 {
        let state = self.state.borrow();
        let Some(metric) = state.metrics.get((metric_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_value = metric.value };
        OK
    }
}
