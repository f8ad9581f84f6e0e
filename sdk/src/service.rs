//! Services: plugins that serve no HTTP streams, such as Envoy's singleton
//! `envoy.bootstrap.wasm` service, one VM on the main thread.
//!
//! Work that must happen once per Envoy, not once per worker (a report, a flush, a
//! count over all workers), belongs in a service. Workers hand it work through a queue the
//! service registers: each enqueue is delivered once, to the service's
//! [`on_queue_ready`](crate::Plugin::on_queue_ready), off the request path.
//!
//! A service is a [`Plugin`](crate::Plugin) whose filter is [`NoFilter`]. It usually lives
//! in the same module as the HTTP filter that feeds it, under its own `root_id`:
//!
//! ```
//! use envoy_wasm_sdk::prelude::*;
//! use envoy_wasm_sdk::service::NoFilter;
//! use envoy_wasm_sdk::shared::{SharedQueue, TypedQueue};
//! use std::cell::Cell;
//! use std::rc::Rc;
//!
//! /// The HTTP filter's plugin: every request becomes an item for the service.
//! struct Counting;
//!
//! impl Plugin for Counting {
//!     type Config = ();
//!     type Filter = CountFilter;
//!     fn configure(_: (), _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
//!         Ok(Counting)
//!     }
//!     fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<CountFilter> {
//!         Some(CountFilter)
//!     }
//! }
//!
//! struct CountFilter;
//!
//! #[http_filter(stateless)]
//! impl HttpFilter for CountFilter {
//!     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
//!         // The service's VM (`vm_id`) and queue name, as in Envoy's configuration.
//!         if let Some(queue) = TypedQueue::<String>::resolve("counter", "paths")? {
//!             queue.enqueue(&req.headers().get_str(":path")?.unwrap_or_default())?;
//!         }
//!         Ok(Action::Continue)
//!     }
//! }
//!
//! /// The service: registers the queue and counts what arrives.
//! struct Counter {
//!     seen: Cell<u64>,
//! }
//!
//! impl Plugin for Counter {
//!     type Config = ();
//!     type Filter = NoFilter;
//!     fn configure(_: (), _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
//!         TypedQueue::<String>::register("paths")?;
//!         Ok(Counter { seen: Cell::new(0) })
//!     }
//!     fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<NoFilter> {
//!         Some(NoFilter)
//!     }
//!     fn on_queue_ready(&self, queue: SharedQueue, _ops: &mut PluginOps<Self>) {
//!         let queue = TypedQueue::<String>::new(queue);
//!         while let Ok(Some(path)) = queue.dequeue() {
//!             self.seen.set(self.seen.get() + 1);
//!             log::debug!("request {} to {path}", self.seen.get());
//!         }
//!     }
//! }
//!
//! // `Counter` serves the plugin configured with `root_id: counter`; `Counting` every other.
//! envoy_wasm_sdk::entry!(Counting, "counter" => Counter);
//! ```
//!
//! In Envoy, the service is a bootstrap extension; `singleton: true` runs it in one VM on
//! the main thread:
//!
//! ```yaml
//! bootstrap_extensions:
//! - name: envoy.bootstrap.wasm
//!   typed_config:
//!     "@type": type.googleapis.com/envoy.extensions.wasm.v3.WasmService
//!     singleton: true
//!     config:
//!       name: counter
//!       root_id: counter
//!       vm_config:
//!         vm_id: counter
//!         code: { local: { filename: my_filter.wasm } }
//! ```
//!
//! Workers find the queue by the service's `vm_id` and the queue's name
//! ([`SharedQueue::resolve`](crate::shared::SharedQueue::resolve)); until the service has
//! registered it, `resolve` finds nothing.
//!
//! # On the native target
//! Built as an Envoy dynamic module, the same service is Envoy's bootstrap extension for
//! dynamic modules: its `extension_name` is its `root_id` and its `vm_id` (what workers
//! resolve its queues by), `extension_config` its configuration. It is configured on the
//! main thread when Envoy loads the bootstrap (a refused configuration stops Envoy, naming
//! the field), its timers are Envoy's main-thread timers, and each item a worker enqueues
//! wakes it there, once. Its metrics are the extension's (`metrics_namespace` names them as
//! the filter's does).
//!
//! ```yaml
//! bootstrap_extensions:
//! - name: envoy.bootstrap.dynamic_modules
//!   typed_config:
//!     "@type": type.googleapis.com/envoy.extensions.bootstrap.dynamic_modules.v3.DynamicModuleBootstrapExtension
//!     dynamic_module_config:
//!       name: my_filter
//!       module: { local: { filename: libmy_filter.so } }
//!     extension_name: counter
//! ```
//!
//! Only a service registers queues and sets timers natively: a filter's plugin there lives
//! on every worker, where Envoy's ABI can neither wake it nor time it
//! ([`TimerPlugin`](crate::plugin::TimerPlugin) makes its timers a compile error; its
//! [`register`](crate::shared::SharedQueue::register) fails with `Unimplemented`).

use crate::filter::{FilterExports, HttpFilter};

/// The filter of a plugin that serves no HTTP streams (a [service](self)): it exports no
/// callbacks, and Envoy never creates one.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFilter;

impl HttpFilter for NoFilter {}

impl FilterExports for NoFilter {
    const STATELESS: bool = true;
    const EXPORTS: &'static [&'static str] = &[];
}
