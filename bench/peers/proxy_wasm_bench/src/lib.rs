//! What the peer benchmark modules share: a gauge reporting the VM's linear memory, set on
//! each tick (never per request).

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

    /// Sets the gauge to the current size of linear memory.
    pub fn update(&self) {
        let bytes = core::arch::wasm32::memory_size(0) as u64 * 65536;
        let _ = hostcalls::record_metric(self.0, bytes);
    }
}
