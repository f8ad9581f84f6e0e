//! What the peer benchmark modules share: a gauge reporting the largest linear memory of
//! the plugin's VMs (Envoy's main-thread VM serves no requests), updated on each tick.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use std::time::Duration;

/// The `bench_memory_bytes` gauge (Envoy shows it as `wasmcustom.bench_memory_bytes`).
pub struct MemoryGauge(u32);

impl MemoryGauge {
    /// Defines the gauge and starts the ticks that update it.
    pub fn start() -> Option<MemoryGauge> {
        let id = hostcalls::define_metric(MetricType::Gauge, "bench_memory_bytes").ok()?;
        hostcalls::set_tick_period(Duration::from_secs(1)).ok()?;
        Some(MemoryGauge(id))
    }

    /// Raises the gauge to this VM's linear memory size if that is larger.
    pub fn update(&self) {
        let bytes = core::arch::wasm32::memory_size(0) as u64 * 65536;
        if hostcalls::get_metric(self.0).is_ok_and(|shown| shown < bytes) {
            let _ = hostcalls::record_metric(self.0, bytes);
        }
    }
}
