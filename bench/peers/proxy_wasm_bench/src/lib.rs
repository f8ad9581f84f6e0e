//! What the peer benchmark modules share: the root context, which creates the workload's
//! filter, and a gauge reporting the largest linear memory of the plugin's VMs (Envoy's
//! main-thread VM serves no requests), updated on each tick.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, MetricType};
use std::cell::Cell;
use std::time::Duration;

thread_local! {
    static NEW_FILTER: Cell<Option<fn() -> Box<dyn HttpContext>>> = const { Cell::new(None) };
}

/// Sets the root context of a benchmark module whose filters `new_filter` makes.
pub fn start(new_filter: fn() -> Box<dyn HttpContext>) {
    NEW_FILTER.set(Some(new_filter));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(BenchRoot { memory: None })
    });
}

struct BenchRoot {
    memory: Option<MemoryGauge>,
}

impl Context for BenchRoot {}

impl RootContext for BenchRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.memory = MemoryGauge::start();
        self.memory.is_some()
    }

    fn on_tick(&mut self) {
        self.memory.iter().for_each(MemoryGauge::update);
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(NEW_FILTER.get()?())
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

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
