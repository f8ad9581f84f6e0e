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

/// Operations valid while a plugin is configured.
pub struct ConfigureOps<'a, P> {
    root_context_id: u32,
    timers: &'a RefCell<Timers<P>>,
}

/// Operations valid in the plugin's own callbacks (timers, [`Plugin::on_queue_ready`]).
pub struct PluginOps<'a, P> {
    root_context_id: u32,
    timers: &'a RefCell<Timers<P>>,
}

/// What both plugin-level phases offer.
macro_rules! plugin_phase {
    ($ops:ident) => {
        impl<'a, P> $ops<'a, P> {
            pub(crate) const fn new(root_context_id: u32, timers: &'a RefCell<Timers<P>>) -> Self {
                Self {
                    root_context_id,
                    timers,
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
    };
}

plugin_phase!(ConfigureOps);
plugin_phase!(PluginOps);
