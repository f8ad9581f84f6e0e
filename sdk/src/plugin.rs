//! The plugin (root context): typed configuration and the filter factory.
//!
//! Envoy configures a plugin once per `name`/`root_id` and worker; the plugin then creates
//! one [`HttpFilter`] per HTTP stream. The SDK parses the configuration into
//! [`Plugin::Config`] (see [`config`]), calls [`Plugin::configure`], keeps
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
//!     fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<StampFilter> {
//!         Some(StampFilter { plugin: self })
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

use crate::callout::{
    Answer, CallKind, CallRouting, CalloutError, HttpRequest, HttpResponse, Owner, Response,
};
use crate::config::{self, ConfigError};
use crate::filter::HttpFilter;
use crate::grpc::{GrpcStream, GrpcStreamEvent, GrpcStreamRequest};
use crate::headers::HeaderResult;
use crate::host::{self, HostResult};
use crate::properties::Properties;
use crate::shared::SharedQueue;
use crate::timer::{TimerId, Timers};
use serde::de::DeserializeOwned;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::SystemTime;

/// A plugin: parses its configuration and creates a filter per stream.
pub trait Plugin: Sized + 'static {
    /// The configuration, parsed from the plugin's `configuration`: JSON through serde, the
    /// text as it is (`String`), or the bytes as they are (`Vec<u8>`); see
    /// [`config`] for the rules, and for telling an empty configuration
    /// from `{}`.
    type Config: DeserializeOwned + 'static;
    /// The filter created for each HTTP stream.
    type Filter: HttpFilter;

    /// Whether log lines written while one of this plugin's streams runs start with the
    /// stream's request id (`[<x-request-id>] `). The id is read once per stream, at its
    /// first line; a plugin that logs a lot per stream and needs no id sets this to
    /// `false`.
    const LOG_REQUEST_ID: bool = true;

    /// The VM started, before its plugins are configured: `vm` holds the VM's own
    /// configuration (`vm_config.configuration` in Envoy), readable typed like the
    /// plugin's. An `Err` fails the VM: Envoy refuses the plugin, and the log says why.
    /// Envoy starts the VM once for each plugin context it makes in it.
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong with the VM configuration.
    fn on_vm_start(vm: &mut VmStartOps) -> Result<(), ConfigError> {
        let _ = vm;
        Ok(())
    }

    /// Builds the plugin from its parsed configuration. An `Err` rejects the configuration:
    /// Envoy refuses the plugin and the log names the field. Timers set here (see
    /// [`timer`](crate::timer)) start running once it returns `Ok`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong (and the field, when it is one).
    fn configure(config: Self::Config, ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError>;

    /// Creates the filter for a new HTTP stream of this plugin, or declines the stream
    /// (`None`): no filter runs for it then. For a filter marked
    /// [`#[http_filter(stateless)]`](crate::http_filter), which keeps nothing per stream,
    /// the SDK keeps one value per plugin and drops the ones made later (they hold nothing).
    fn create_filter(self: Rc<Self>, stream: NewContext) -> Option<Self::Filter>;

    /// Items arrived on `queue`, which this plugin registered.
    fn on_queue_ready(&self, queue: SharedQueue, ops: &mut PluginOps<Self>) {
        let _ = (queue, ops);
    }
}

/// A new stream or connection of a plugin, as Envoy created it: what
/// [`Plugin::create_filter`] and
/// [`NetworkPlugin::create_connection`](crate::network::NetworkPlugin::create_connection)
/// know of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewContext {
    context_id: u32,
}

impl NewContext {
    pub(crate) const fn new(context_id: u32) -> NewContext {
        NewContext { context_id }
    }

    /// The host's id of the new stream's or connection's context (the id its phase objects
    /// and [`Stream`](crate::Stream) report).
    pub fn context_id(&self) -> u32 {
        self.context_id
    }
}

/// What the VM-start hook ([`Plugin::on_vm_start`]) may use: the VM's configuration.
pub struct VmStartOps {
    root_context_id: u32,
    configuration: Vec<u8>,
}

impl VmStartOps {
    pub(crate) fn new(root_context_id: u32, configuration: Vec<u8>) -> VmStartOps {
        VmStartOps {
            root_context_id,
            configuration,
        }
    }

    /// The VM's configuration (`vm_config.configuration`) as bytes; empty when it has none.
    pub fn configuration_bytes(&self) -> &[u8] {
        &self.configuration
    }

    /// The VM's configuration, parsed by the rules of a plugin's
    /// [`Config`](Plugin::Config) (see [`config`]): JSON through serde,
    /// `String` or `Vec<u8>` as they are.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field that is wrong.
    pub fn configuration<T: DeserializeOwned + 'static>(&self) -> Result<T, ConfigError> {
        config::parse(&self.configuration)
    }

    /// The host's id of the plugin context the VM is started for.
    pub fn root_context_id(&self) -> u32 {
        self.root_context_id
    }
}

impl fmt::Debug for VmStartOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VmStartOps")
            .field("root_context_id", &self.root_context_id)
            .field("configuration_bytes", &self.configuration.len())
            .finish()
    }
}

/// What a plugin timer runs: a closure, or a method of the plugin.
type TimerCallback<P> = Box<dyn FnMut(&P, &mut PluginOps<'_, P>)>;

/// Runs a plugin's due timers: its services (the set among them), the plugin, its context
/// id.
type TimerRunner<P> = fn(&PluginServices<P>, &P, u32);

/// `run` as an [`Answer`] of plugin context of a `P`: a plugin's HTTP call or gRPC stream.
fn plugin_answer<P: 'static>(
    mut run: impl FnMut(&P, Response, &mut PluginOps<'_, P>) + 'static,
) -> Answer {
    Answer::new(move |owner, response| {
        if let Owner::Plugin {
            root_context_id,
            plugin,
            services,
        } = owner
            && let (Some(plugin), Some(services)) = (
                plugin.downcast_ref::<P>(),
                services.downcast_ref::<PluginServices<P>>(),
            )
        {
            run(
                plugin,
                response,
                &mut PluginOps::new(root_context_id, services),
            );
        }
        Ok(())
    })
}

/// What the runtime keeps for a plugin context besides the plugin: its name and its
/// timers. (Its calls' handlers are kept with every other call's, by the runtime.)
pub(crate) struct PluginServices<P> {
    pub(crate) timers: RefCell<Timers<TimerCallback<P>>>,
    /// Runs the due timers: installed by the first timer, so a module that sets none links
    /// none of the code.
    timer_runner: Cell<Option<TimerRunner<P>>>,
    identity: RefCell<(String, String)>,
}

impl<P> Default for PluginServices<P> {
    fn default() -> Self {
        PluginServices {
            timers: RefCell::new(Timers::default()),
            timer_runner: Cell::new(None),
            identity: RefCell::new((String::new(), String::new())),
        }
    }
}

impl<P> PluginServices<P> {
    /// Reads the plugin's name and root id (when it is configured; not per request).
    pub(crate) fn identify(&self) {
        let read = |name: &str| {
            host::properties::get(&[name])
                .ok()
                .flatten()
                .map(|value| String::from_utf8_lossy(&value).into_owned())
                .unwrap_or_default()
        };
        *self.identity.borrow_mut() = (read("plugin_name"), read("plugin_root_id"));
    }
}

impl<P: 'static> PluginServices<P> {
    /// Adds a timer (see [`Timers::add`]) and installs the code that runs due ones.
    fn add_timer(
        &self,
        name: &str,
        delay: std::time::Duration,
        every: Option<std::time::Duration>,
        callback: TimerCallback<P>,
    ) -> HostResult<TimerId> {
        let now = crate::timer::now_nanos()?;
        self.timer_runner.set(Some(Self::fire_timers));
        self.timers
            .borrow_mut()
            .add(now, name, delay, every, callback)
    }

    /// The host's tick: runs every due timer, if the plugin has any.
    pub(crate) fn run_due_timers(&self, plugin: &P, root_context_id: u32) {
        if let Some(run) = self.timer_runner.get() {
            run(self, plugin, root_context_id);
        }
    }

    /// Runs every timer that is due, each with `plugin`, then sets the tick for the next
    /// deadline. The set is not borrowed while a callback runs, so callbacks may add and
    /// cancel timers.
    fn fire_timers(&self, plugin: &P, root_context_id: u32) {
        let Ok(now) = crate::timer::now_nanos() else {
            return;
        };
        loop {
            // Its own statement: the set must not stay borrowed while the callback runs.
            let due = self.timers.borrow_mut().take_due(now);
            let Some((id, mut callback)) = due else {
                break;
            };
            callback(plugin, &mut PluginOps::new(root_context_id, self));
            self.timers.borrow_mut().put_back(id, callback, now);
        }
        if let Err(error) = self.timers.borrow_mut().rearm(now) {
            log::error!("cannot set the timers' tick: {error}");
        }
    }
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

            /// The plugin's name in Envoy's configuration (`name`; for Istio, the
            /// `WasmPlugin`'s namespace and name).
            pub fn plugin_name(&self) -> String {
                self.services.identity.borrow().0.clone()
            }

            /// The plugin's `root_id` in Envoy's configuration (empty when it has none).
            pub fn root_id(&self) -> String {
                self.services.identity.borrow().1.clone()
            }

            /// Envoy's properties (`plugin_name`, `plugin_root_id`, `node`, ...); read-only: a
            /// plugin has no stream whose filter state Envoy could write.
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

        impl<P: TimerPlugin + 'static> $ops<'_, P> {
            /// Runs `callback` every `period` (at least a millisecond) from now on, in this
            /// VM (see [where timers run](crate::timer#where-timers-run)).
            ///
            /// # Errors
            /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy
            /// refuses to set the tick.
            pub fn every(
                &mut self,
                name: &str,
                period: std::time::Duration,
                callback: impl FnMut(&P, &mut PluginOps<'_, P>) + 'static,
            ) -> crate::HostResult<crate::timer::TimerId> {
                self.services.add_timer(name, period, Some(period), Box::new(callback))
            }

            /// Runs `callback` once, `delay` from now.
            ///
            /// # Errors
            /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy
            /// refuses to set the tick.
            pub fn once(
                &mut self,
                name: &str,
                delay: std::time::Duration,
                callback: impl FnOnce(&P, &mut PluginOps<'_, P>) + 'static,
            ) -> crate::HostResult<crate::timer::TimerId> {
                let mut callback = Some(callback);
                let run = move |plugin: &P, ops: &mut PluginOps<'_, P>| {
                    if let Some(callback) = callback.take() {
                        callback(plugin, ops);
                    }
                };
                self.services.add_timer(name, delay, None, Box::new(run))
            }
        }

        impl<P: 'static> $ops<'_, P> {
            /// Stops timer `id`; `Ok(false)` if it had already run or was cancelled.
            ///
            /// # Errors
            /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy
            /// refuses to change the tick.
            pub fn cancel(&mut self, id: crate::timer::TimerId) -> crate::HostResult<bool> {
                let now = crate::timer::now_nanos()?;
                self.services.timers.borrow_mut().cancel(now, id)
            }
        }

        impl<P: CallRouting> $ops<'_, P> {
            /// Calls another service over HTTP from the plugin (a timer, a queue callback,
            /// `configure`): `on_response` runs with the plugin when the response (or the
            /// failure) arrives, a closure or a method such as `Self::on_keys`.
            ///
            /// # Errors
            /// [`HeaderError::Invalid`](crate::HeaderError::Invalid) for a request header
            /// that could split the request (nothing is sent); the host's status when Envoy
            /// refuses the call (an unknown cluster, say).
            pub fn http_call(
                &mut self,
                request: HttpRequest,
                on_response: impl FnOnce(&P, Result<HttpResponse, CalloutError>, &mut PluginOps<'_, P>)
                + 'static,
            ) -> HeaderResult<()> {
                let token = request.dispatch()?;
                let mut on_response = Some(on_response);
                let answer = plugin_answer(move |plugin: &P, response: Response, ops| {
                    if let (Some(on_response), Some(result)) = (on_response.take(), response.http())
                    {
                        on_response(plugin, result, ops);
                    }
                });
                let limit = request.max_response_bytes;
                P::route(CallKind::Http, token, self.root_context_id, limit, answer);
                Ok(())
            }
        }

        impl<P: CallRouting> $ops<'_, P> {
            crate::native_lacks! {
                /// Opens a gRPC stream owned by the plugin (see [`grpc`](crate::grpc)):
                /// `on_event` runs with the plugin for each of its events, until it closes; a
                /// method such as `Self::on_event` fits as it is.
                ///
                /// # Errors
                /// [`HeaderError::Invalid`](crate::HeaderError::Invalid) for metadata that could
                /// split the request (nothing is sent); the host's status when Envoy refuses to
                /// open the stream (a cluster it does not know, say).
                pub fn grpc_stream(
                    &mut self,
                    request: GrpcStreamRequest,
                    on_event: impl FnMut(&P, GrpcStreamEvent, &mut PluginOps<'_, P>) + 'static,
                ) -> HeaderResult<GrpcStream> {
                    let stream = request.open()?;
                    let mut on_event = on_event;
                    let answer = plugin_answer(move |plugin: &P, response, ops| {
                        if let Response::Stream(event) = response {
                            on_event(plugin, event, ops);
                        }
                    });
                    let (token, limit) = (stream.token(), request.max_message_bytes);
                    P::route(CallKind::GrpcStream, token, self.root_context_id, limit, answer);
                    Ok(stream)
                }
            }
        }
    };
}

plugin_phase!(ConfigureOps);
plugin_phase!(PluginOps);

/// Plugins whose plugin context runs timers: every plugin on Wasm; on the native target
/// a service (`Filter = NoFilter`), whose context is on Envoy's main thread. Sealed: the
/// SDK says which plugins these are.
pub trait TimerPlugin: sealed::Sealed {}

impl<P: sealed::Sealed> TimerPlugin for P {}

mod sealed {
    /// See [`TimerPlugin`](super::TimerPlugin).
    pub trait Sealed {}

    #[cfg(not(all(feature = "dynamic-module", not(target_arch = "wasm32"))))]
    impl<P: ?Sized> Sealed for P {}

    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    impl<P: crate::Plugin<Filter = crate::service::NoFilter>> Sealed for P {}
}
