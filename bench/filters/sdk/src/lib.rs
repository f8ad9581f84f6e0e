//! What the benchmark modules on the SDK share: a gauge reporting the VM's linear memory,
//! set once a second (never per request).

use envoy_wasm_sdk::metrics::Gauge;
use envoy_wasm_sdk::prelude::*;
use std::time::Duration;

/// The `bench_memory_bytes` gauge (Envoy shows it as `wasmcustom.bench_memory_bytes`).
pub struct MemoryGauge(Gauge);

impl MemoryGauge {
    /// Defines the gauge and starts the ticks that update it.
    pub fn start(ctx: &mut ConfigureOps) -> Result<MemoryGauge, ConfigError> {
        let gauge = Gauge::define("bench_memory_bytes")
            .map_err(|e| ConfigError::field("bench_memory_bytes", e.to_string()))?;
        ctx.set_tick_period(Duration::from_secs(1))
            .map_err(|e| ConfigError::field("tick", e.to_string()))?;
        Ok(MemoryGauge(gauge))
    }

    /// Sets the gauge to the current size of linear memory.
    pub fn update(&self) {
        let _ = self.0.set(linear_memory_bytes());
    }
}

#[cfg(target_arch = "wasm32")]
fn linear_memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * 65536
}

#[cfg(not(target_arch = "wasm32"))]
fn linear_memory_bytes() -> u64 {
    0
}
