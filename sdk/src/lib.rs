//! Write Envoy HTTP and network filters in Rust, compiled to `wasm32-wasip1`, loaded by
//! Envoy's Wasm filters (proxy-wasm ABI 0.2.1).
//!
//! A filter crate implements two traits and registers the plugin:
//!
//! - [`Plugin`]: the plugin context. Its typed [`Plugin::Config`] is parsed with serde
//!   from the plugin's JSON configuration when Envoy configures it; an error rejects the
//!   configuration, and the log names the field. It creates one filter per stream.
//! - [`HttpFilter`]: one value per HTTP stream. Each callback receives only the operations
//!   valid in its phase and returns `Result<Action, Error>`; an `Err` becomes a local reply.
//!
//! A plugin can offer a network (TCP) filter too, or instead: see [`network`].
//!
//! ```
//! use envoy_wasm_sdk::prelude::*;
//! use std::rc::Rc;
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     type Config = ();
//!     type Filter = HelloFilter;
//!
//!     fn configure(_config: (), _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
//!         log::info!("hello plugin started");
//!         Ok(Hello)
//!     }
//!
//!     fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<HelloFilter> {
//!         Some(HelloFilter)
//!     }
//! }
//!
//! struct HelloFilter;
//!
//! #[http_filter]
//! impl HttpFilter for HelloFilter {
//!     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
//!         let path = req.headers().path()?.unwrap_or_default();
//!         log::info!("request to {path}");
//!         Ok(Action::Continue)
//!     }
//!
//!     fn on_response_headers(&mut self, resp: &mut ResponseHeadersOps<Self>) -> Result<Action, Error> {
//!         resp.headers().set("x-hello", "world")?;
//!         Ok(Action::Continue)
//!     }
//! }
//!
//! envoy_wasm_sdk::entry!(Hello);
//! ```
//!
//! # Layers
//! Each layer uses only the ones above it (`tests/layers.rs` checks this):
//!
//! ```text
//! abi        the raw ABI: imports, wire types, map encoding, and the native seam that
//!            links them to Envoy on wasm and to an in-process host in `cargo test`
//!            (hidden from these docs: no stability promise)
//! host       safe calls returning `Result`; the SDK never panics on a host status
//!            (hidden too; a filter uses the user API, a test `testing`)
//! user API   plugin (Plugin, config), filter (HttpFilter, phase objects), network
//!            (NetworkFilter, connection phases), headers, body,
//!            callout, properties, metrics, shared (data, queues), routes,
//!            foreign, reply/error
//! runtime    private: the guest exports Envoy calls, the dispatcher (contexts, calls in
//!            flight), the logger, the allocator
//! testing    the emulator; reaches the runtime only through its seam
//! ```
//!
//! Where does setting a request header live? [`RequestHeadersOps::headers`] hands out a
//! [`HeadersMut`], whose `set` is one call into `host::headers`, which calls the ABI's
//! `proxy_replace_header_map_value`.
//!
//! Logging goes through the [`log`] crate to Envoy's log, at the level Envoy runs the
//! `wasm` component at. A panic is logged (message and location) before the VM aborts.
//!
//! # Native target
//! With the `dynamic-module` feature, a filter crate's `cdylib` is an Envoy dynamic module
//! (`lib<name>.so`, loaded by `envoy.filters.http.dynamic_modules`, or by
//! `envoy.filters.network.dynamic_modules` for a network filter) instead of a proxy-wasm
//! module: the same `Plugin`, `HttpFilter` and `NetworkFilter`, run natively. `entry!`
//! exports the module's `envoy_dynamic_module_on_program_init`; the SDK declares Envoy's
//! side of that ABI (`abi::dynamic_module`, under the feature) and answers the filter's host
//! calls with it. Build it with `cargo envoy-wasm build --target native`. A stream's timers
//! (`after`) run there too, and a [service] runs as Envoy's bootstrap extension
//! (its timers and the queues workers feed it); a filter's callouts, gRPC calls and gRPC
//! streams are Envoy HTTP streams the SDK starts for the request. What the native target
//! lacks (a filter's plugin timers, a plugin's gRPC streams) is a compile error or marked
//! deprecated under the feature, and
//! fails with `Unimplemented`; the README's "Native target" has the table.

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(clippy::missing_errors_doc)]

/// Marks what the native target (Envoy dynamic modules) does not implement: the items it
/// wraps are deprecated under the `dynamic-module` feature, with the one note below, and
/// fail there with `Unimplemented`. The README's "Native target" table lists them.
macro_rules! native_lacks {
    ($($item:tt)*) => {
        #[cfg_attr(
            all(feature = "dynamic-module", not(target_arch = "wasm32")),
            deprecated(
                note = "not on the native target (Envoy dynamic modules): this fails with `Unimplemented`; see the README, \"Native target\""
            )
        )]
        $($item)*
    };
}
pub(crate) use native_lacks;

// Layers, each using only those before it: `abi` -> `host` -> the user API -> `runtime`.
// `abi` and `host` are public for the SDK's own tests and benchmarks only: hidden from the
// docs and outside any semver promise. Filters use the user API; tests use `testing`.
#[doc(hidden)]
pub mod abi;
#[doc(hidden)]
pub mod host;

// The user API.
mod body;
pub mod callout;
pub mod config;
mod error;
pub mod filter;
pub mod foreign;
pub mod grpc;
mod headers;
pub mod higress;
pub mod metrics;
pub mod network;
pub mod plugin;
pub mod properties;
pub mod query;
pub mod random;
mod reply;
pub mod routes;
pub mod service;
pub mod shared;
pub mod timer;

mod runtime;
#[cfg(any(
    doc,
    test,
    all(target_arch = "wasm32", not(target_feature = "atomics"))
))]
pub use runtime::allocator;

#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;

pub use abi::Action;
pub use body::Body;
pub use config::ConfigError;
pub use error::Error;
pub use filter::{
    HttpFilter, RequestBodyOps, RequestHeadersOps, RequestTrailersOps, ResponseBodyOps,
    ResponseHeadersOps, ResponseTrailersOps, Stream, StreamDoneOps,
};
pub use headers::{
    HeaderError, HeaderList, HeaderProblem, HeaderResult, HeaderValue, Headers, HeadersMut,
    InvalidHeader,
};
pub use host::{HostError, HostResult};
pub use log;
pub use plugin::{ConfigureOps, NewContext, Plugin, PluginOps, VmStartOps};
pub use properties::{Properties, PropertiesMut};
pub use reply::LocalReply;

/// Everything a filter crate usually needs: `use envoy_wasm_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::callout::{CalloutError, CalloutOps, GrpcRequest, HttpRequest, HttpResponse};
    pub use crate::query::QueryParams;
    pub use crate::{
        Action, Body, ConfigError, ConfigureOps, Error, HeaderError, HeaderList, HeaderValue,
        Headers, HeadersMut, HttpFilter, LocalReply, NewContext, Plugin, PluginOps, Properties,
        PropertiesMut, RequestBodyOps, RequestHeadersOps, RequestTrailersOps, ResponseBodyOps,
        ResponseHeadersOps, ResponseTrailersOps, Stream, StreamDoneOps, VmStartOps, http_filter,
    };
    pub use crate::{HostError, HostResult};
    pub use log;
}

#[doc(hidden)]
pub mod __private {
    /// The native target's allocator (see `__native_allocator!`).
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    pub use crate::runtime::dynamic_module::allocator::NativeAllocator;

    /// How `entry!` finds the configuration's schema without requiring one: the impl on
    /// `&Probe<T>` applies when `T` has a schema (and the `schema` feature is on), and method
    /// resolution tries it before the fallback on `Probe<T>`.
    pub mod schema {
        use std::marker::PhantomData;

        /// Stands for the configuration type `T`.
        pub struct Probe<T>(PhantomData<T>);

        impl<T> Default for Probe<T> {
            fn default() -> Self {
                Probe(PhantomData)
            }
        }

        /// The schema, for a type that has one.
        pub trait FromJsonSchema {
            /// The schema as pretty JSON.
            fn config_schema(&self) -> Option<String>;
        }

        #[cfg(feature = "schema")]
        impl<T: schemars::JsonSchema> FromJsonSchema for &Probe<T> {
            fn config_schema(&self) -> Option<String> {
                serde_json::to_string_pretty(&crate::config::schema::<T>()).ok()
            }
        }

        /// No schema: the type does not derive `JsonSchema`, or the feature is off.
        pub trait WithoutSchema {
            /// Always `None`.
            fn config_schema(&self) -> Option<String> {
                None
            }
        }

        impl<T> WithoutSchema for Probe<T> {}
    }

    pub use crate::filter::FilterExports;
    pub use crate::network::ConnectionExports;
    pub use crate::runtime::connections::probe::{HasNetwork, LacksNetwork, NetworkProbe};
    pub use crate::runtime::connections::{Connections, NoConnections, WithConnections};
    pub use crate::runtime::dispatch::{register, root_of};
    /// The native target's `envoy_dynamic_module_on_program_init`, which `entry!` exports.
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    pub use crate::runtime::dynamic_module::program_init;

    /// What `#[http_filter]` and `#[network_filter]` export.
    pub mod exports {
        pub use crate::runtime::exports::lifecycle::proxy_on_log;
        pub use crate::runtime::exports::network::*;
        pub use crate::runtime::exports::stream::*;
    }
}

pub use envoy_wasm_sdk_macros::http_filter;
/// The `schemars` crate the `schema` feature uses (derive `schemars::JsonSchema` on a
/// configuration type with `schemars` as a dependency of the filter crate).
#[cfg(feature = "schema")]
pub use schemars;

/// Registers the filter crate's [`Plugin`]: `envoy_wasm_sdk::entry!(MyPlugin);`
///
/// On wasm this defines the module's `_initialize` export, which Envoy calls once when it
/// loads the module, and makes [`allocator::PoolAllocator`] the module's global allocator
/// (on the native target, mimalloc, rather than Envoy's process allocator). A crate with
/// its own `#[global_allocator]` writes `entry!(MyPlugin, own_allocator)`.
/// Elsewhere it defines `register_plugin()`, which an in-process host calls to load the
/// plugin on the current thread; with the SDK's `dynamic-module` feature it also exports
/// `envoy_dynamic_module_on_program_init`, so the crate's `cdylib` is an Envoy dynamic
/// module (see the README's "Native target").
///
/// One module can hold more plugins, told apart by the `root_id` Envoy configures them
/// with: `entry!(MyPlugin, "my_collector" => Collector)` runs `Collector` for the plugin
/// whose `root_id` is `my_collector` (a singleton service, say; see
/// [`service`]) and `MyPlugin` for every other. A plugin that implements
/// [`network::NetworkPlugin`] has its network filter registered too.
#[macro_export]
macro_rules! entry {
    ($plugin:ty, own_allocator $(, $root_id:literal => $other:ty)* $(,)?) => {
        #[cfg(target_arch = "wasm32")]
        #[unsafe(export_name = "_initialize")]
        pub extern "C" fn __envoy_wasm_sdk_initialize() {
            $crate::__private::register::<$plugin, _>(
                $crate::__connections_of!($plugin),
                ::std::vec![
                    $(($root_id, $crate::__private::root_of::<$other, _>($crate::__connections_of!($other)))),*
                ],
            );
        }

        /// Loads this crate's plugin into the current thread's dispatcher.
        #[cfg(not(target_arch = "wasm32"))]
        pub fn register_plugin() {
            $crate::__private::register::<$plugin, _>(
                $crate::__connections_of!($plugin),
                ::std::vec![
                    $(($root_id, $crate::__private::root_of::<$other, _>($crate::__connections_of!($other)))),*
                ],
            );
        }

        $crate::__dynamic_module_entry!();

        /// The JSON Schema of the plugin's configuration, when it has one (read by
        /// `cargo envoy-wasm schema`).
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __envoy_wasm_config_schema() -> ::core::option::Option<::std::string::String> {
            #[allow(unused_imports)]
            use $crate::__private::schema::{FromJsonSchema as _, WithoutSchema as _};
            (&&$crate::__private::schema::Probe::<<$plugin as $crate::Plugin>::Config>::default())
                .config_schema()
        }
    };
    ($plugin:ty $(, $root_id:literal => $other:ty)* $(,)?) => {
        #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
        #[global_allocator]
        static __ENVOY_WASM_SDK_ALLOCATOR: $crate::allocator::PoolAllocator =
            $crate::allocator::PoolAllocator::new();

        $crate::__native_allocator!();

        $crate::entry!($plugin, own_allocator $(, $root_id => $other)*);
    };
}

/// `entry!`'s export for the native target: Envoy calls it once when it loads the module.
/// Empty unless the SDK's `dynamic-module` feature is on.
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __dynamic_module_entry {
    () => {
        /// Envoy loaded this crate as a dynamic module.
        #[unsafe(no_mangle)]
        pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const ::core::ffi::c_char {
            $crate::__private::program_init(register_plugin)
        }
    };
}

/// `entry!`'s export for the native target; empty without the `dynamic-module` feature.
#[cfg(not(all(feature = "dynamic-module", not(target_arch = "wasm32"))))]
#[doc(hidden)]
#[macro_export]
macro_rules! __dynamic_module_entry {
    () => {};
}

/// `entry!`'s allocator for the native target: mimalloc, the module's own, so a filter's
/// small allocations do not go through Envoy's process allocator (measured on the body
/// benchmark: see the README's "Performance"). Empty unless the SDK's `dynamic-module`
/// feature is on.
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __native_allocator {
    () => {
        #[global_allocator]
        static __ENVOY_WASM_SDK_NATIVE_ALLOCATOR: $crate::__private::NativeAllocator =
            $crate::__private::NativeAllocator;
    };
}

/// `entry!`'s allocator for the native target: none without the `dynamic-module` feature.
#[cfg(not(all(feature = "dynamic-module", not(target_arch = "wasm32"))))]
#[doc(hidden)]
#[macro_export]
macro_rules! __native_allocator {
    () => {};
}

/// Whether plugin type `$plugin` has a network filter (`entry!`'s probe; see
/// [`network::NetworkPlugin`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __connections_of {
    ($plugin:ty) => {{
        #[allow(unused_imports)]
        use $crate::__private::{HasNetwork as _, LacksNetwork as _};
        (&&$crate::__private::NetworkProbe::<$plugin>::default()).connections()
    }};
}
