//! The private runtime: what Envoy calls, and what routes those calls to the plugin and
//! its filters. Nothing here is part of the API; filters reach it only through
//! [`entry!`](crate::entry) and [`#[http_filter]`](crate::http_filter).
//!
//! In the order they build on each other (each file uses only those above it; the
//! SDK's `tests/layers.rs` fails on a circle):
//!
//! - [`contexts`]: the traits the dispatcher holds plugin contexts, streams and
//!   connections by;
//! - [`state`]: the contexts (plugins, the streams and connections bound to each, the
//!   calls in flight), one per VM;
//! - [`logger`]: the `log` crate's backend, writing to Envoy's log;
//! - [`access`]: reaching a context's filter or plugin, user code run guarded, a
//!   callback's error answered;
//! - [`connections`]: network filters' connections;
//! - [`calls`]: answers to callouts, gRPC streams' events and streams' timers, to the
//!   context that started them;
//! - [`root`]: a plugin context and a stream's filter behind the [`contexts`] traits;
//! - [`dispatch`]: the routing of every export to its context;
//! - [`exports`]: the guest functions (`proxy_on_*`), one file per ABI area;
//! - `dynamic_module` (feature `dynamic-module`): the native target, the same exports
//!   driven by Envoy's dynamic-module hooks;
//! - [`allocator`]: the module's global allocator (public as
//!   [`envoy_wasm_sdk::allocator`](crate::allocator)).
//!
//! The emulator ([`testing`](crate::testing)) drives a filter through [`seam`] only: the
//! exports, as Envoy calls them, and two hooks of its own.

pub(crate) mod access;
#[cfg(any(
    doc,
    test,
    all(target_arch = "wasm32", not(target_feature = "atomics"))
))]
pub mod allocator;
pub(crate) mod calls;
pub(crate) mod connections;
pub(crate) mod contexts;
pub(crate) mod dispatch;
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) mod dynamic_module;
pub mod exports;
pub(crate) mod logger;
pub(crate) mod root;
pub(crate) mod state;

/// What the emulator may reach of the runtime: the guest exports Envoy calls, which of the
/// stream callbacks the filter's module exports, and hooks to re-raise a guest panic on
/// the test's thread, to read why a configuration was refused, to hand a test the
/// configured plugin and to drop every context at teardown.
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) mod seam {
    pub(crate) use super::access::take_guest_panic;
    pub(crate) use super::dispatch::{configured_plugin, exports, unregister};
    pub(crate) use super::exports::{callouts, lifecycle, network, root, stream};
    pub(crate) use super::state::take_refused_config;
}
