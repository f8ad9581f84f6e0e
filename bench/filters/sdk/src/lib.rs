//! What the benchmark modules on the SDK share: the plugin, which takes no configuration
//! and creates the workload's filter, and a gauge reporting the largest linear memory of
//! the plugin's VMs, updated once a second (never per request). Envoy runs a VM on the main
//! thread too, which serves no requests; keeping the maximum keeps its reading out.

use envoy_wasm_sdk::metrics::Gauge;
use envoy_wasm_sdk::prelude::*;
use std::marker::PhantomData;
use std::rc::Rc;

/// The plugin of every benchmark module: `entry!(bench_sdk::Bench<MyFilter>)`.
/// `PREFIX` is its [`Plugin::LOG_REQUEST_ID`] (for the rows that measure the log prefix).
pub struct Bench<F, const PREFIX: bool = true> {
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    memory: MemoryGauge,
    filter: PhantomData<F>,
}

impl<F: HttpFilter + Default, const PREFIX: bool> Plugin for Bench<F, PREFIX> {
    type Config = ();
    type Filter = F;
    const LOG_REQUEST_ID: bool = PREFIX;

    fn configure(_config: (), ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        // Linear memory is a wasm VM's; a native build (a dynamic module) has nothing to
        // report, and no timers in a filter's plugin.
        #[cfg(target_arch = "wasm32")]
        ctx.every("memory", std::time::Duration::from_secs(1), |bench, _| {
            bench.memory.update();
        })?;
        #[cfg(not(target_arch = "wasm32"))]
        let _ = ctx;
        Ok(Bench {
            memory: MemoryGauge::define()?,
            filter: PhantomData,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<F> {
        Some(F::default())
    }
}

/// The header workload's request half: `:path` must start with `/`.
///
/// # Errors
/// A 400 for a bad path, or the host's failure.
pub fn check_path<F>(req: &mut RequestHeadersOps<F>) -> Result<Action, Error> {
    match req.headers().path()? {
        Some(path) if path.starts_with(b"/") => Ok(Action::Continue),
        _ => Err(Error::with_status(400, "bad path")),
    }
}

/// The multi workload's request half: five reads (one snapshot), two writes.
///
/// # Errors
/// The host's failure.
pub fn rewrite_request<F>(req: &mut RequestHeadersOps<F>) -> Result<Action, Error> {
    // One host call for all five reads.
    let snapshot = req.headers().snapshot()?;
    let get = |name: &str| snapshot.get(name).unwrap_or_default();
    let target = [get(":method"), b" ", get(":authority"), get(":path")].concat();
    let route = [get("x-b1"), b"/", get("x-b2")].concat();
    let mut headers = req.headers();
    headers.set("x-target", target)?;
    headers.set("x-route", route)?;
    Ok(Action::Continue)
}

/// Both workloads' response half: one added header naming the workload.
///
/// # Errors
/// The host's failure.
pub fn mark_response<F>(resp: &mut ResponseHeadersOps<F>, workload: &str) -> Result<Action, Error> {
    resp.headers().add("x-bench", workload)?;
    Ok(Action::Continue)
}

/// A filter `$name` that keeps nothing per stream (`#[http_filter(stateless)]`): the request
/// half is `$request` (one of the functions above, or the module's own), the response half
/// marks the response `$workload`. The module adds its `entry!` (with the plugin's
/// `PREFIX` it measures).
#[macro_export]
macro_rules! stateless_filter {
    ($(#[$attr:meta])* $name:ident, $request:path, $workload:literal) => {
        use envoy_wasm_sdk::prelude::*;

        $(#[$attr])*
        #[derive(Default)]
        pub struct $name;

        #[http_filter(stateless)]
        impl HttpFilter for $name {
            fn on_request_headers(
                &mut self,
                req: &mut RequestHeadersOps<Self>,
            ) -> Result<Action, Error> {
                $request(req)
            }

            fn on_response_headers(
                &mut self,
                resp: &mut ResponseHeadersOps<Self>,
            ) -> Result<Action, Error> {
                $crate::mark_response(resp, $workload)
            }
        }
    };
}

/// A module whose filter keeps state per stream (the default, without `stateless`): the
/// request half (`$request`, one of the functions above) records that it ran, and the
/// response half checks it before marking the response `$workload`.
#[macro_export]
macro_rules! stateful_module {
    ($request:path, $workload:literal) => {
        use envoy_wasm_sdk::prelude::*;

        /// What the request half left for the response half.
        #[derive(Default)]
        pub struct StatefulFilter {
            request_seen: bool,
        }

        #[http_filter]
        impl HttpFilter for StatefulFilter {
            fn on_request_headers(
                &mut self,
                req: &mut RequestHeadersOps<Self>,
            ) -> Result<Action, Error> {
                let action = $request(req)?;
                self.request_seen = true;
                Ok(action)
            }

            fn on_response_headers(
                &mut self,
                resp: &mut ResponseHeadersOps<Self>,
            ) -> Result<Action, Error> {
                if !self.request_seen {
                    return Err(Error::new("a response without its request"));
                }
                $crate::mark_response(resp, $workload)
            }
        }

        envoy_wasm_sdk::entry!($crate::Bench<StatefulFilter>);
    };
}

/// The `bench_memory_bytes` gauge (Envoy shows it as `wasmcustom.bench_memory_bytes`).
pub struct MemoryGauge(Gauge);

impl MemoryGauge {
    /// Defines the gauge (a timer of the plugin keeps it up to date).
    pub fn define() -> Result<MemoryGauge, ConfigError> {
        let gauge = Gauge::define("bench_memory_bytes")
            .map_err(|e| ConfigError::field("bench_memory_bytes", e.to_string()))?;
        Ok(MemoryGauge(gauge))
    }

    /// Raises the gauge to this VM's linear memory size if that is larger.
    pub fn update(&self) {
        let bytes = linear_memory_bytes();
        if self.0.value().is_ok_and(|shown| shown < bytes) {
            self.0.set(bytes);
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
