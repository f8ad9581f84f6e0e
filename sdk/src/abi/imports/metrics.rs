//! Metrics (Envoy stats).

hostcalls! {
    /// Host side of metrics.
    trait MetricsHost;
    /// Defines a metric and returns its id.
    fn proxy_define_metric(metric_type: u32, name: &[u8], return_id: &mut u32);
    /// Sets a gauge or records a histogram value.
    fn proxy_record_metric(metric_id: u32, value: u64);
    /// Adds `delta` to a counter or gauge.
    fn proxy_increment_metric(metric_id: u32, delta: i64);
    /// Reads a metric's value.
    fn proxy_get_metric(metric_id: u32, return_value: &mut u64);
}
