//! What the benchmark modules on the SDK share: the plugin, which takes no configuration
//! and creates the workload's filter, and a gauge reporting the largest linear memory of
//! the plugin's VMs, updated once a second (never per request). Envoy runs a VM on the main
//! thread too, which serves no requests; keeping the maximum keeps its reading out.

use envoy_wasm_sdk::metrics::Gauge;
use envoy_wasm_sdk::prelude::*;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

/// The plugin of every benchmark module: `entry!(bench_sdk::Bench<MyFilter>)`.
pub struct Bench<F> {
    memory: MemoryGauge,
    filter: PhantomData<F>,
}

impl<F: HttpFilter + Default> Plugin for Bench<F> {
    type Config = ();
    type Filter = F;

    fn configure(_config: (), ctx: &mut ConfigureOps) -> Result<Self, ConfigError> {
        Ok(Bench {
            memory: MemoryGauge::start(ctx)?,
            filter: PhantomData,
        })
    }

    fn create_filter(self: Rc<Self>) -> F {
        F::default()
    }

    fn on_tick(&self, _ops: &mut PluginOps) {
        self.memory.update();
    }
}

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

    /// Raises the gauge to this VM's linear memory size if that is larger.
    pub fn update(&self) {
        let bytes = linear_memory_bytes();
        if self.0.value().is_ok_and(|shown| shown < bytes) {
            let _ = self.0.set(bytes);
        }
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
