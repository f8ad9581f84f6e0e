//! The plugin (root context): typed configuration and the filter factory.
//!
//! Envoy configures a plugin once per `name`/`root_id` and worker; the plugin then creates
//! one [`HttpFilter`] per HTTP stream. The SDK parses the configuration into
//! [`Plugin::Config`] (see [`config`](crate::config)), calls [`Plugin::configure`], keeps
//! the plugin in an [`Rc`], and hands each new filter that `Rc`: configuration is shared,
//! never copied per request.
//!
//! ```
//! use envoy_wasm_sdk::prelude::*;
//! use serde::Deserialize;
//! use std::rc::Rc;
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     header: String,
//!     value: String,
//! }
//!
//! struct Stamp {
//!     config: Config,
//! }
//!
//! impl Plugin for Stamp {
//!     type Config = Config;
//!     type Filter = StampFilter;
//!
//!     fn configure(config: Config, _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
//!         if config.header.is_empty() {
//!             return Err(ConfigError::field("header", "must not be empty"));
//!         }
//!         Ok(Stamp { config })
//!     }
//!
//!     fn create_filter(self: Rc<Self>) -> StampFilter {
//!         StampFilter { plugin: self }
//!     }
//! }
//!
//! struct StampFilter {
//!     plugin: Rc<Stamp>,
//! }
//!
//! #[http_filter]
//! impl HttpFilter for StampFilter {
//!     fn on_response_headers(&mut self, resp: &mut ResponseHeadersOps<Self>) -> Result<Action, Error> {
//!         let config = &self.plugin.config;
//!         resp.headers().set(&config.header, &config.value)?;
//!         Ok(Action::Continue)
//!     }
//! }
//!
//! envoy_wasm_sdk::entry!(Stamp);
//! ```

use crate::config::ConfigError;
use crate::filter::HttpFilter;
use crate::grpc::{GrpcStream, GrpcStreamEvent, GrpcStreamRequest, PluginStreams};
use crate::headers::HeaderResult;
use crate::host::{self, HostResult};
use crate::properties::Properties;
use crate::shared::SharedQueue;
use crate::timer::{Timers, timer_ops};
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::SystemTime;

/// A plugin: parses its configuration and creates a filter per stream.
pub trait Plugin: Sized + 'static {
    /// The configuration, deserialized from the plugin's JSON `configuration`.
    type Config: DeserializeOwned + 'static;
    /// The filter created for each HTTP stream.
    type Filter: HttpFilter;

    /// Builds the plugin from its parsed configuration. An `Err` rejects the configuration:
    /// Envoy refuses the plugin and the log names the field. Timers set here (see
    /// [`timer`](crate::timer)) start running once it returns `Ok`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong (and the field, when it is one).
    fn configure(config: Self::Config, ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError>;

    /// Creates the filter for a new HTTP stream. For a filter marked
    /// [`#[http_filter(stateless)]`](crate::http_filter), which keeps nothing per stream,
    /// it is called once, when the plugin is configured.
    fn create_filter(self: Rc<Self>) -> Self::Filter;

    /// Items arrived on `queue`, which this plugin registered.
    fn on_queue_ready(&self, queue: SharedQueue, ops: &mut PluginOps<Self>) {
        let _ = (queue, ops);
    }
}

/// What the runtime keeps for a plugin context besides the plugin: its timers and its
/// gRPC streams' handlers.
pub(crate) struct PluginServices<P> {
    pub(crate) timers: RefCell<Timers<P>>,
    pub(crate) streams: RefCell<PluginStreams<P>>,
}

impl<P> Default for PluginServices<P> {
    fn default() -> Self {
        PluginServices {
            timers: RefCell::new(Timers::default()),
            streams: RefCell::new(PluginStreams::default()),
        }
    }
}

/// How a plugin's gRPC stream's events come back to it. Implemented by the runtime for
/// every plugin; called only where a plugin opens a stream, so a module that never does
/// links none of the code that routes stream events.
#[doc(hidden)]
pub trait StreamRouting: Sized + 'static {
    /// Stream `token`, opened by plugin context `root_context_id`, sends its events there
    /// (messages of at most `max_message_bytes`).
    fn route_stream(token: u32, root_context_id: u32, max_message_bytes: usize);
}

/// Operations valid while a plugin is configured.
pub struct ConfigureOps<'a, P> {
    root_context_id: u32,
    services: &'a PluginServices<P>,
}

/// Operations valid in the plugin's own callbacks (timers, [`Plugin::on_queue_ready`],
/// gRPC stream events).
pub struct PluginOps<'a, P> {
    root_context_id: u32,
    services: &'a PluginServices<P>,
}

/// What both plugin-level phases offer.
macro_rules! plugin_phase {
    ($ops:ident) => {
        impl<'a, P> $ops<'a, P> {
            pub(crate) const fn new(root_context_id: u32, services: &'a PluginServices<P>) -> Self {
                Self {
                    root_context_id,
                    services,
                }
            }

            /// The host's id of this plugin's context.
            pub fn root_context_id(&self) -> u32 {
                self.root_context_id
            }

            /// Envoy's attributes (`plugin_name`, `plugin_root_id`, `node`, ...).
            pub fn properties(&self) -> Properties<'_> {
                Properties::new()
            }

            /// The host's clock.
            ///
            /// # Errors
            /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
            pub fn now(&self) -> HostResult<SystemTime> {
                host::time::now()
            }
        }

        impl<P> fmt::Debug for $ops<'_, P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ops))
                    .field("root_context_id", &self.root_context_id)
                    .finish_non_exhaustive()
            }
        }

        timer_ops!($ops);

        impl<P: StreamRouting> $ops<'_, P> {
            /// Opens a gRPC stream owned by the plugin (see [`grpc`](crate::grpc)):
            /// `on_event` runs with the plugin for each of its events, until it closes; a
            /// method such as `Self::on_event` fits as it is.
            ///
            /// # Errors
            /// [`HeaderError::Invalid`](crate::HeaderError::Invalid) for metadata that could
            /// split the request (nothing is sent); the host's status when Envoy refuses to
            /// open the stream (a cluster it does not know, say).
            #[cfg_attr(all(feature = "dynamic-module", not(target_arch = "wasm32")), deprecated(note = "the native target (Envoy dynamic modules) has no gRPC streams: this fails with `Unimplemented`; see the README, \"Native target\""))]
            pub fn grpc_stream(
                &mut self,
                request: GrpcStreamRequest,
                on_event: impl FnMut(&P, GrpcStreamEvent, &mut PluginOps<'_, P>) + 'static,
            ) -> HeaderResult<GrpcStream> {
                let stream = request.open()?;
                self.services
                    .streams
                    .borrow_mut()
                    .add(stream.token(), Box::new(on_event));
                P::route_stream(
                    stream.token(),
                    self.root_context_id,
                    request.max_message_bytes,
                );
                Ok(stream)
            }
        }
    };
}

plugin_phase!(ConfigureOps);
plugin_phase!(PluginOps);
