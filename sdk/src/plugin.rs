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
//!     fn configure(config: Config, _ctx: &mut ConfigureOps) -> Result<Self, ConfigError> {
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
use serde::de::DeserializeOwned;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// A plugin: parses its configuration and creates a filter per stream.
pub trait Plugin: Sized + 'static {
    /// The configuration, deserialized from the plugin's JSON `configuration`.
    type Config: DeserializeOwned + 'static;
    /// The filter created for each HTTP stream.
    type Filter: HttpFilter;

    /// Builds the plugin from its parsed configuration. An `Err` rejects the configuration:
    /// Envoy refuses the plugin and the log names the field.
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong (and the field, when it is one).
    fn configure(config: Self::Config, ctx: &mut ConfigureOps) -> Result<Self, ConfigError>;

    /// Creates the filter for a new HTTP stream. For a filter marked
    /// [`#[http_filter(stateless)]`](crate::http_filter), which keeps nothing per stream,
    /// it is called once, when the plugin is configured.
    fn create_filter(self: Rc<Self>) -> Self::Filter;

    /// The timer set with [`ConfigureOps::set_tick_period`] fired.
    fn on_tick(&self, ops: &mut PluginOps) {
        let _ = ops;
    }

    /// Items arrived on `queue`, which this plugin registered.
    fn on_queue_ready(&self, queue: SharedQueue, ops: &mut PluginOps) {
        let _ = (queue, ops);
    }
}

/// Operations valid while a plugin is configured.
#[derive(Debug)]
pub struct ConfigureOps {
    root_context_id: u32,
}

impl ConfigureOps {
    pub(crate) const fn new(root_context_id: u32) -> Self {
        Self { root_context_id }
    }

    /// The host's id of this plugin's context.
    pub fn root_context_id(&self) -> u32 {
        self.root_context_id
    }

    /// Envoy's attributes (`plugin_name`, `plugin_root_id`, `node`, ...).
    pub fn properties(&self) -> Properties<'_> {
        Properties::new()
    }

    /// Calls [`Plugin::on_tick`] every `period` (whole milliseconds; zero stops it).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn set_tick_period(&mut self, period: Duration) -> HostResult<()> {
        host::time::set_tick_period(period)
    }
}

/// Operations valid in the plugin's own callbacks ([`Plugin::on_tick`],
/// [`Plugin::on_queue_ready`]).
#[derive(Debug)]
pub struct PluginOps {
    root_context_id: u32,
}

impl PluginOps {
    pub(crate) const fn new(root_context_id: u32) -> Self {
        Self { root_context_id }
    }

    /// The host's id of this plugin's context.
    pub fn root_context_id(&self) -> u32 {
        self.root_context_id
    }

    /// Envoy's attributes.
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

    /// Changes the timer period (zero stops it).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn set_tick_period(&mut self, period: Duration) -> HostResult<()> {
        host::time::set_tick_period(period)
    }
}
