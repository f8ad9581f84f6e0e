//! The private runtime: what Envoy calls, and what routes those calls to the plugin and
//! its filters. Nothing here is part of the API; filters reach it only through
//! [`entry!`](crate::entry) and [`#[http_filter]`](crate::http_filter).
//!
//! - [`exports`]: the guest functions (`proxy_on_*`), one file per ABI area;
//! - [`dispatch`]: the contexts (plugins, streams, each stream's calls in flight) and the
//!   routing of every export to them;
//! - [`connections`]: network filters' connections;
//! - [`streams`]: gRPC streams' events, to the plugin or filter that opened them;
//! - [`logger`]: the `log` crate's backend, writing to Envoy's log;
//! - `dynamic_module` (feature `dynamic-module`): the native target, the same exports
//!   driven by Envoy's dynamic-module hooks;
//! - [`allocator`]: the module's global allocator (public as
//!   [`envoy_wasm_sdk::allocator`](crate::allocator)).
//!
//! The emulator ([`testing`](crate::testing)) drives a filter through [`seam`] only: the
//! exports, as Envoy calls them, and two hooks of its own.

#[cfg(any(
    doc,
    test,
    all(target_arch = "wasm32", not(target_feature = "atomics"))
))]
pub mod allocator;
pub(crate) mod connections;
pub(crate) mod dispatch;
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) mod dynamic_module;
pub mod exports;
pub(crate) mod logger;
pub(crate) mod streams;

/// What the emulator may reach of the runtime: the guest exports Envoy calls, which of the
/// stream callbacks the filter's module exports, and hooks to re-raise a guest panic on
/// the test's thread, to read why a configuration was refused, to hand a test the
/// configured plugin and to drop every context at teardown.
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) mod seam {
    pub(crate) use super::dispatch::{
        configured_plugin, exports, take_guest_panic, take_refused_config, unregister,
    };
    pub(crate) use super::exports::{callouts, lifecycle, network, root, stream};
}
