//! Unit-test filters without Envoy: an in-process proxy-wasm host with Envoy's semantics.
//!
//! Enable the `testing` feature in your filter's dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! envoy-wasm-sdk = { path = "../../sdk", features = ["testing"] }
//! ```
//!
//! An [`Emulator`] loads your plugin through the same exports Envoy calls, configures it, and
//! drives requests through it. A test reads like the scenario it checks: a request in, the
//! request the upstream receives and the response the client receives out.
//!
//! ```
//! use envoy_wasm_sdk::prelude::*;
//! use envoy_wasm_sdk::testing::{Emulator, Request, Response};
//! use std::rc::Rc;
//!
//! // A filter (normally in your crate's lib.rs).
//! struct Tagger;
//! impl Plugin for Tagger {
//!     type Config = String;
//!     type Filter = TagFilter;
//!     fn configure(tag: String, _: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
//!         if tag.is_empty() {
//!             return Err(ConfigError::new("the tag must not be empty"));
//!         }
//!         Ok(Tagger)
//!     }
//!     fn create_filter(self: Rc<Self>) -> TagFilter {
//!         TagFilter
//!     }
//! }
//! struct TagFilter;
//! #[http_filter]
//! impl HttpFilter for TagFilter {
//!     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
//!         if !req.headers().contains("x-user")? {
//!             return Err(Error::with_status(401, "who are you?"));
//!         }
//!         req.headers().set("x-tagged", "yes")?;
//!         Ok(Action::Continue)
//!     }
//! }
//! envoy_wasm_sdk::entry!(Tagger);
//!
//! // The tests.
//! let envoy = Emulator::new(register_plugin);
//! envoy.configure(r#""blue""#).unwrap();
//!
//! let exchange = envoy.send(Request::get("/").header("x-user", "ann"));
//! assert_eq!(exchange.upstream().header("x-tagged"), Some("yes"));
//! assert_eq!(exchange.response().status(), Some(200));
//!
//! let refused = envoy.send_with(Request::get("/"), Response::ok());
//! assert!(!refused.reached_upstream());
//! assert_eq!(refused.response().status(), Some(401));
//! assert_eq!(refused.response().body_text(), "who are you?\n");
//! assert!(envoy.logged("on_request_headers failed: who are you?"));
//!
//! // A bad configuration is refused, and the reason is observable.
//! drop(envoy); // one emulator per thread at a time
//! let failed = Emulator::new(register_plugin).configure(r#""""#).unwrap_err();
//! assert!(failed.to_string().contains("the tag must not be empty"));
//! ```
//!
//! For filters that pause, call out or buffer, drive a stream a callback at a time with
//! [`Emulator::stream`]; script the environment with [`Emulator::set_property`],
//! [`Emulator::advance`] (time and timer ticks), [`Emulator::respond_http_call`] and
//! friends (callouts), shared data and queues.
//!
//! Each emulator installs its host on the current thread, and `cargo test` runs each test on
//! its own thread, so tests run in parallel without sharing anything. One emulator per
//! thread at a time.
//!
//! # The artifact, too
//!
//! [`Emulator::from_wasm`] runs the compiled `.wasm` instead, in an embedded VM served by
//! the same host, and [`emulator_test`] runs one test body both ways:
//!
//! ```ignore
//! #[envoy_wasm_sdk::testing::emulator_test]
//! fn tags_the_request() {
//!     let envoy = Emulator::new(my_filter::register_plugin); // the .wasm in the second run
//!     envoy.configure(r#""blue""#).unwrap();
//!     assert_eq!(envoy.send(Request::get("/")).upstream().header("x-tagged"), Some("yes"));
//! }
//! ```
//!
//! Build the module first (`cargo build --release --target wasm32-wasip1`). In the VM a
//! panic aborts, as in Envoy: see [`Emulator::vm_failure`].

mod guest;
mod host;
mod http;
mod tcp;
mod wasm;

pub use envoy_wasm_sdk_macros::emulator_test;
pub use host::{ForeignFunction, GrpcCall, HttpCall, LogRecord, Metric, SentReply};
pub use http::{Exchange, HttpStream, Message, Request, Response};
pub use tcp::TcpConnection;

use crate::abi::native::install_host;
use crate::abi::{LogLevel, Status};
use crate::config::ConfigError;
use crate::grpc::GrpcStatus;
use guest::Guest;
use host::{ConnectionState, EmulatorHost, StreamState};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// A plugin's configuration was refused; carries why, and what the plugin logged while
/// refusing it.
#[derive(Clone, Debug)]
pub struct ConfigureFailed {
    /// Log lines written during configuration.
    pub logs: Vec<LogRecord>,
    /// The error the configuration was refused with (`None` if the plugin was not reached,
    /// e.g. no `entry!`).
    pub error: Option<ConfigError>,
}

impl ConfigureFailed {
    /// The path of the field the configuration was refused for (`rules[2].name`), if one
    /// was named: match on it rather than on the message.
    pub fn field_path(&self) -> Option<&str> {
        self.error.as_ref()?.field_path()
    }
}

impl fmt::Display for ConfigureFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the plugin refused its configuration")?;
        for record in &self.logs {
            write!(f, "\n  [{:?}] {}", record.level, record.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigureFailed {}

/// A configured plugin (root context) of the emulated VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PluginId(u32);

/// The emulated Envoy: one VM with the plugin a filter crate registers; see the
/// [module docs](self).
pub struct Emulator {
    host: Rc<EmulatorHost>,
    guest: Guest,
    /// Why the VM failed (a trap), if it has: Envoy calls it no more.
    vm_failure: RefCell<Option<String>>,
    default_plugin: Cell<Option<u32>>,
    next_context: Cell<u32>,
    /// When each plugin's tick last ran.
    last_tick: RefCell<HashMap<u32, u64>>,
    answered: RefCell<HashSet<u32>>,
    http_responder: RefCell<Option<HttpResponder>>,
    grpc_responder: RefCell<Option<GrpcResponder>>,
    router: Router,
    route_cache_clears: Rc<Cell<u32>>,
}

type HttpResponder = Box<dyn FnMut(&HttpCall) -> CalloutReply>;
type Router = Rc<RefCell<Option<Box<dyn Fn(&[(Vec<u8>, Vec<u8>)]) -> (String, String)>>>>;

/// Applies the router to the effective stream's request headers.
fn route(host: &EmulatorHost, router: &Router) {
    let router = router.borrow();
    let Some(router) = router.as_ref() else {
        return;
    };
    let headers = {
        let state = host.state.borrow();
        state
            .streams
            .get(&state.effective_context)
            .map(|s| s.request.headers.clone())
    };
    if let Some(headers) = headers {
        let (route_name, cluster) = router(&headers);
        let mut state = host.state.borrow_mut();
        state
            .properties
            .insert(b"xds\0route_name".to_vec(), route_name.into_bytes());
        state
            .properties
            .insert(b"xds\0cluster_name".to_vec(), cluster.into_bytes());
    }
}

type GrpcResponder = Box<dyn FnMut(&GrpcCall) -> GrpcReply>;

/// How the emulator answers an HTTP callout (see [`Emulator::answer_http_calls`]).
#[derive(Clone, Debug)]
pub enum CalloutReply {
    /// The service answers with this response.
    Respond(Response),
    /// The call fails without a response (reset), with this reason.
    Fail(String),
    /// The service does not answer in time: Envoy's own `504 upstream request timeout`.
    TimeOut,
}

impl From<Response> for CalloutReply {
    fn from(response: Response) -> CalloutReply {
        CalloutReply::Respond(response)
    }
}

/// How the emulator answers a gRPC call (see [`Emulator::answer_grpc_calls`]).
#[derive(Clone, Debug)]
pub enum GrpcReply {
    /// The service answers with this serialized message (status OK).
    Message(Vec<u8>),
    /// The call ends with this gRPC status and message.
    Status(GrpcStatus, String),
}

impl Emulator {
    /// Loads a filter crate: pass the `register_plugin` function that
    /// [`entry!`](crate::entry) defines. Logs are kept from `info` up, as Envoy's default.
    pub fn new(register_plugin: fn()) -> Emulator {
        // Inside `on_wasm` (an `#[emulator_test]`'s second run): the crate's module instead.
        if let Some(module) = WASM_RUN.with(|run| run.borrow().clone()) {
            return Emulator::from_wasm(module);
        }
        let emulator = Emulator::with_guest(|_| Ok(Guest::Native));
        register_plugin();
        emulator
    }

    /// Loads a compiled filter module (`target/wasm32-wasip1/release/my_filter.wasm`) into
    /// an embedded VM, instead of the crate linked into the test: the same emulator, the
    /// same assertions, against the artifact Envoy runs. Data the host returns goes
    /// through the module's `proxy_on_memory_allocate`, its WASI imports behave as
    /// Envoy's, and a trap fails the VM as in Envoy (see [`vm_failure`](Emulator::vm_failure)).
    /// The module is compiled once per test binary.
    ///
    /// # Panics
    /// When the module cannot be read or does not load (a missing import, say), with the
    /// reason.
    pub fn from_wasm(module: impl AsRef<std::path::Path>) -> Emulator {
        let path = module.as_ref().to_path_buf();
        Emulator::with_guest(|host| {
            let vm = wasm::WasmVm::load(&path, host, &[])?;
            Ok(Guest::Wasm(Box::new(vm)))
        })
    }

    fn with_guest(guest: impl FnOnce(Rc<EmulatorHost>) -> Result<Guest, String>) -> Emulator {
        let host = Rc::new(EmulatorHost::default());
        host.state.borrow_mut().log_level = LogLevel::Info;
        host.state.borrow_mut().vm_id = "emulator".into();
        host.state
            .borrow_mut()
            .properties
            .insert(b"plugin_vm_id".to_vec(), b"emulator".to_vec());
        let previous = install_host(Some(host.clone()));
        assert!(
            previous.is_none(),
            "another Emulator is alive on this thread; use one per test"
        );
        let guest = guest(host.clone()).unwrap_or_else(|error| {
            install_host(None);
            panic!("{error}")
        });
        let emulator = Emulator {
            host,
            guest,
            vm_failure: RefCell::new(None),
            default_plugin: Cell::new(None),
            next_context: Cell::new(1),
            last_tick: RefCell::new(HashMap::new()),
            answered: RefCell::new(HashSet::new()),
            http_responder: RefCell::new(None),
            grpc_responder: RefCell::new(None),
            router: Rc::new(RefCell::new(None)),
            route_cache_clears: Rc::new(Cell::new(0)),
        };
        emulator.offer_envoy_foreign_functions();
        emulator
    }

    /// Whether this emulator runs the compiled module (see [`from_wasm`](Emulator::from_wasm)).
    pub fn on_wasm(&self) -> bool {
        matches!(self.guest, Guest::Wasm(_))
    }

    /// Why the VM failed, if it has: the trap (a panic aborts the VM) and the callback it
    /// happened in. As in Envoy, a failed VM is called no more: the stream that trapped
    /// and every later one is answered `503` with no body, a connection is closed, and a
    /// configuration is refused. (On the native backend a panic is re-raised in the test
    /// instead.)
    pub fn vm_failure(&self) -> Option<String> {
        self.vm_failure.borrow().clone()
    }

    pub(crate) fn guest_exports(&self, name: &str) -> bool {
        self.guest.exports(name)
    }

    /// Ends a stream's or connection's context as Envoy does: `proxy_on_log`, then
    /// `proxy_on_delete`, each if the module exports it.
    pub(crate) fn end_context(&self, id: u32) {
        for export in ["proxy_on_log", "proxy_on_delete"] {
            if self.guest_exports(export) {
                self.call_into(id, export, &[u64::from(id)]);
            }
        }
    }

    /// Envoy's built-in foreign functions: `clear_route_cache` (routes again with the
    /// router set by [`set_router`](Emulator::set_router)) and `set_envoy_filter_state`
    /// (readable as the `filter_state.<key>` property).
    fn offer_envoy_foreign_functions(&self) {
        let (host, router, clears) = (
            self.host.clone(),
            self.router.clone(),
            self.route_cache_clears.clone(),
        );
        self.register_foreign_function("clear_route_cache", move |_| {
            clears.set(clears.get() + 1);
            route(&host, &router);
            Ok(Vec::new())
        });
        let host = self.host.clone();
        self.register_foreign_function("set_envoy_filter_state", move |arguments| {
            let (key, value) =
                crate::foreign::filter_state_arguments(arguments).ok_or(Status::BadArgument)?;
            let mut path = b"filter_state\0".to_vec();
            path.extend_from_slice(&key);
            host.state.borrow_mut().properties.insert(path, value);
            Ok(Vec::new())
        });
    }

    /// Routes requests as Envoy's route table would: `router` maps the request headers to
    /// (route name, cluster), which become `xds.route_name` and `xds.cluster_name` before
    /// the filter sees the request and again when it clears the route cache.
    pub fn set_router(&self, router: impl Fn(&[(Vec<u8>, Vec<u8>)]) -> (String, String) + 'static) {
        *self.router.borrow_mut() = Some(Box::new(router));
    }

    /// [`set_router`](Emulator::set_router) for a route table that looks at `:path` only.
    pub fn set_path_router(&self, router: impl Fn(&[u8]) -> (String, String) + 'static) {
        self.set_router(move |headers| {
            let path = headers.iter().find(|(k, _)| k == b":path");
            router(path.map_or(&[][..], |(_, v)| v.as_slice()))
        });
    }

    /// How many times the filter asked Envoy to route again.
    pub fn route_cache_clears(&self) -> u32 {
        self.route_cache_clears.get()
    }

    pub(crate) fn route(&self) {
        route(&self.host, &self.router);
    }

    fn new_context_id(&self) -> u32 {
        let id = self.next_context.get();
        self.next_context.set(id + 1);
        id
    }

    /// Calls export `name` of context `context_id` as Envoy would, then delivers the queue
    /// notifications it caused. A failed VM is not called (the result is 0).
    pub(crate) fn call_into(&self, context_id: u32, name: &str, args: &[u64]) -> u32 {
        let result = self.invoke(context_id, name, args);
        self.deliver_ready_queues();
        result
    }

    fn invoke(&self, context_id: u32, name: &str, args: &[u64]) -> u32 {
        if self.vm_failure.borrow().is_some() {
            return 0;
        }
        self.host.state.borrow_mut().effective_context = context_id;
        let result = self.guest.call(name, args);
        if let Some(panic) = crate::runtime::seam::take_guest_panic() {
            // The filter panicked (in Envoy: a trapped VM). Re-raised here, on the Rust side.
            std::panic::resume_unwind(panic);
        }
        result.unwrap_or_else(|trap| {
            let failure = format!("Function: {name} failed: {trap}");
            self.host.log_line(LogLevel::Error, failure.clone());
            *self.vm_failure.borrow_mut() = Some(failure);
            0
        })
    }

    pub(crate) fn host_effective(&self, context_id: u32) {
        self.host.state.borrow_mut().effective_context = context_id;
    }

    pub(crate) fn with_stream<R>(&self, id: u32, f: impl FnOnce(&mut StreamState) -> R) -> R {
        let mut state = self.host.state.borrow_mut();
        let now = state.now_nanos;
        f(state.streams.entry(id).or_insert_with(|| StreamState {
            started_nanos: now,
            ..StreamState::default()
        }))
    }

    pub(crate) fn forget_stream(&self, id: u32) {
        let mut state = self.host.state.borrow_mut();
        state.streams.remove(&id);
        state.stream_roots.remove(&id);
    }

    /// Configures the default plugin (named `test_plugin`) with `configuration` (JSON text,
    /// or empty), as Envoy does when it loads the plugin.
    ///
    /// # Errors
    /// [`ConfigureFailed`] when the plugin refuses its configuration (its log says why).
    pub fn configure(&self, configuration: impl AsRef<[u8]>) -> Result<PluginId, ConfigureFailed> {
        let id = self.add_plugin("test_plugin", configuration)?;
        self.default_plugin.set(Some(id.0));
        Ok(id)
    }

    /// Declares that the emulated host has attribute `path`, which upstream Envoy 1.40
    /// does not (`route_name` and `cluster_name`, which Higress's Envoy sets): from now on
    /// the value a test sets there is served. Without it the emulator answers such paths as
    /// Envoy does, with nothing, so a filter that relies on them fails here as it would in
    /// Envoy. (Likewise the request line's attributes, `request.path` and its kin, are
    /// there only until the response begins, and `response.code` and `upstream.*` only
    /// after.)
    pub fn declare_host_attribute(&self, path: &[&str]) {
        self.host
            .state
            .borrow_mut()
            .host_attributes
            .push(path.join("\0").into_bytes());
    }

    /// Names the emulated VM (`vm_id` in Envoy's `vm_config`; `emulator` by default): the
    /// VM queues are registered in and resolved by. The emulator runs every plugin in one
    /// VM, so to test a filter that feeds a [service](crate::service) in another VM, give
    /// this VM the service's `vm_id` and add the service with
    /// [`add_plugin`](Emulator::add_plugin).
    pub fn set_vm_id(&self, vm_id: &str) {
        let mut state = self.host.state.borrow_mut();
        state.vm_id = vm_id.to_owned();
        state
            .properties
            .insert(b"plugin_vm_id".to_vec(), vm_id.as_bytes().to_vec());
    }

    /// Adds another plugin (root context) of the same module with its own name (its
    /// `root_id` too) and configuration; streams of it come from
    /// [`stream_of`](Emulator::stream_of).
    ///
    /// # Errors
    /// [`ConfigureFailed`] when the plugin refuses its configuration (its log says why).
    pub fn add_plugin(
        &self,
        name: &str,
        configuration: impl AsRef<[u8]>,
    ) -> Result<PluginId, ConfigureFailed> {
        let root = self.new_context_id();
        {
            let mut state = self.host.state.borrow_mut();
            state.roots.push(root);
            state.plugin_names.insert(root, name.as_bytes().to_vec());
            for (key, value) in [("plugin_name", name), ("plugin_root_id", name)] {
                state
                    .properties
                    .insert(key.as_bytes().to_vec(), value.as_bytes().to_vec());
            }
            state.plugin_configuration = configuration.as_ref().to_vec();
        }
        let logs_before = self.host.state.borrow().logs.len();
        let size = configuration.as_ref().len();
        let vm_size = self.host.state.borrow().vm_configuration.len();
        // As in Envoy with a module that does not export `proxy_on_context_create`: the
        // plugin context comes to be when the VM starts it.
        let (root_id, vm_size, size) = (u64::from(root), vm_size as u64, size as u64);
        let accepted = self.call_into(root, "proxy_on_vm_start", &[root_id, vm_size]) != 0
            && self.call_into(root, "proxy_on_configure", &[root_id, size]) != 0;
        if !accepted {
            let logs = self.host.state.borrow().logs[logs_before..].to_vec();
            let error = match self.guest {
                Guest::Native => crate::runtime::seam::take_refused_config(),
                // The VM's side is out of reach: the reason is in the log line.
                Guest::Wasm(_) => logs.iter().find_map(|line| {
                    let reason = line.message.split_once("invalid plugin configuration: ")?.1;
                    Some(ConfigError::from_text(reason).unwrap_or_else(|| ConfigError::new(reason)))
                }),
            };
            return Err(ConfigureFailed { logs, error });
        }
        Ok(PluginId(root))
    }

    /// The default plugin as `configure` made it (the value of the entry's plugin type
    /// `P`), to check what it parsed; `None` before `configure`, or for another type.
    ///
    /// # Panics
    /// On the wasm backend: the plugin lives inside the VM.
    pub fn plugin<P: crate::Plugin>(&self) -> Option<Rc<P>> {
        self.plugin_of(PluginId(self.default_plugin.get()?))
    }

    /// Like [`plugin`](Emulator::plugin), for a plugin added with
    /// [`add_plugin`](Emulator::add_plugin).
    ///
    /// # Panics
    /// On the wasm backend: the plugin lives inside the VM.
    pub fn plugin_of<P: crate::Plugin>(&self, plugin: PluginId) -> Option<Rc<P>> {
        assert!(
            !self.on_wasm(),
            "the configured plugin is inside the VM on the wasm backend: test it natively"
        );
        crate::runtime::seam::configured_plugin::<P>(plugin.0)
    }

    fn default_plugin(&self) -> u32 {
        self.default_plugin
            .get()
            .expect("configure the plugin first: emulator.configure(\"...\")")
    }

    /// Starts an HTTP stream on the default plugin, to drive a callback at a time.
    pub fn stream(&self) -> HttpStream<'_> {
        self.stream_of(PluginId(self.default_plugin()))
    }

    /// Starts an HTTP stream on `plugin`.
    pub fn stream_of(&self, plugin: PluginId) -> HttpStream<'_> {
        let id = self.new_context_id();
        self.with_stream(id, |_| ());
        self.host
            .state
            .borrow_mut()
            .stream_roots
            .insert(id, plugin.0);
        // No `proxy_on_context_create`: modules do not export it, and the filter is made at
        // the stream's first callback.
        HttpStream::new(self, id)
    }

    /// A client connects through the default plugin's network filter (its
    /// [`NetworkPlugin`](crate::network::NetworkPlugin)); drive the connection from the
    /// [`TcpConnection`].
    pub fn connect(&self) -> TcpConnection<'_> {
        self.connect_to(PluginId(self.default_plugin()))
    }

    /// A client connects through `plugin`'s network filter.
    pub fn connect_to(&self, plugin: PluginId) -> TcpConnection<'_> {
        let id = self.new_context_id();
        {
            let mut state = self.host.state.borrow_mut();
            state.connections.insert(id, ConnectionState::default());
            state.stream_roots.insert(id, plugin.0);
        }
        TcpConnection::open(self, id)
    }

    pub(crate) fn with_connection<R>(
        &self,
        id: u32,
        f: impl FnOnce(&mut ConnectionState) -> R,
    ) -> R {
        let mut state = self.host.state.borrow_mut();
        f(state.connections.entry(id).or_default())
    }

    /// Sends `request` through the filter; the upstream answers `200` with no body.
    pub fn send(&self, request: Request) -> Exchange {
        self.send_with(request, Response::ok())
    }

    /// Sends `request` through the filter; if it reaches the upstream, `upstream` is the
    /// answer. The stream is then completed (`on_done`, `on_log`, `on_delete`).
    pub fn send_with(&self, request: Request, upstream: Response) -> Exchange {
        self.stream().exchange(request, upstream)
    }

    /// Sends `request` through `plugin`.
    pub fn send_to(&self, plugin: PluginId, request: Request, upstream: Response) -> Exchange {
        self.stream_of(plugin).exchange(request, upstream)
    }

    // ---- environment ----

    /// Sets the property at `path` (`["source", "address"]`), as Envoy would report it.
    /// `request.*` and `response.*` values come from the stream itself.
    pub fn set_property(&self, path: &[&str], value: impl Into<Vec<u8>>) {
        self.host
            .state
            .borrow_mut()
            .properties
            .insert(path.join("\0").into_bytes(), value.into());
    }

    /// The paths of every property the filter read, dotted (`request.path`).
    pub fn properties_read(&self) -> Vec<String> {
        self.host.state.borrow().properties_read.clone()
    }

    /// The level the host logs at (records below it are dropped, as in Envoy).
    pub fn set_log_level(&self, level: LogLevel) {
        self.host.state.borrow_mut().log_level = level;
    }

    /// Every log line kept so far.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.host.state.borrow().logs.clone()
    }

    /// Whether some log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.host
            .state
            .borrow()
            .logs
            .iter()
            .any(|r| r.message.contains(text))
    }

    /// The emulated clock.
    pub fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.host.state.borrow().now_nanos)
    }

    /// Moves the clock forward, calling `proxy_on_tick` for every tick period that elapses.
    /// As in Envoy, a tick comes one period after the later of the last tick and the
    /// moment the period was set (a plugin that changes its period starts a new timer).
    pub fn advance(&self, by: Duration) {
        let target = self.host.state.borrow().now_nanos + by.as_nanos() as u64;
        loop {
            let due = {
                let state = self.host.state.borrow();
                let last = self.last_tick.borrow();
                state
                    .tick_periods
                    .iter()
                    .map(|(root, (period, set_at))| {
                        let from = last.get(root).copied().unwrap_or(0).max(*set_at);
                        (*root, from + u64::from(*period) * 1_000_000)
                    })
                    .filter(|(_, at)| *at <= target)
                    .min_by_key(|(root, at)| (*at, *root))
            };
            let Some((root, at)) = due else {
                break;
            };
            self.last_tick.borrow_mut().insert(root, at);
            self.host.state.borrow_mut().now_nanos = at;
            self.call_into(root, "proxy_on_tick", &[u64::from(root)]);
        }
        self.host.state.borrow_mut().now_nanos = target;
    }

    /// The shortest tick period any plugin asked for.
    pub(crate) fn shortest_tick_period(&self) -> Option<Duration> {
        let state = self.host.state.borrow();
        let shortest = state
            .tick_periods
            .values()
            .map(|(ms, _)| *ms)
            .filter(|ms| *ms > 0)
            .min()?;
        Some(Duration::from_millis(u64::from(shortest)))
    }

    /// The tick period the plugin asked for, if any.
    pub fn tick_period(&self, plugin: PluginId) -> Option<Duration> {
        let periods = &self.host.state.borrow().tick_periods;
        periods
            .get(&plugin.0)
            .map(|(ms, _)| Duration::from_millis(u64::from(*ms)))
    }

    /// Offers a foreign function the filter can call by name.
    pub fn register_foreign_function(
        &self,
        name: &str,
        function: impl FnMut(&[u8]) -> Result<Vec<u8>, Status> + 'static,
    ) {
        self.host
            .state
            .borrow_mut()
            .foreign
            .insert(name.into(), Box::new(function));
    }

    /// Calls the plugin's `proxy_on_foreign_function` with `arguments`.
    pub fn call_foreign_function(&self, plugin: PluginId, function_id: u32, arguments: &[u8]) {
        self.host.state.borrow_mut().foreign_arguments = arguments.to_vec();
        let args = [
            u64::from(plugin.0),
            u64::from(function_id),
            arguments.len() as u64,
        ];
        self.call_into(plugin.0, "proxy_on_foreign_function", &args);
    }

    // ---- metrics, shared data, queues ----

    /// Every metric the filter defined.
    pub fn metrics(&self) -> Vec<Metric> {
        self.host.state.borrow().metrics.clone()
    }

    /// The value of metric `name`.
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.host
            .state
            .borrow()
            .metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }

    /// Shared data `key` with its compare-and-swap version.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.host
            .state
            .borrow()
            .shared_data
            .get(key.as_bytes())
            .cloned()
    }

    /// Sets shared data `key`, as another VM would (a new version).
    pub fn set_shared_data(&self, key: &str, value: impl Into<Vec<u8>>) {
        let mut state = self.host.state.borrow_mut();
        state.write_shared(key.as_bytes(), value.into());
    }

    /// Scripts another worker that writes `value` to shared data `key` right after each of
    /// the filter's next `reads` reads of it: between the filter's read and its write, as
    /// two workers racing in Envoy can. A compare-and-swap write based on such a read
    /// fails, so the filter's retry path runs
    /// ([`SharedMap::update`](crate::shared::SharedMap::update) reads again and sees
    /// `value`).
    pub fn interfere_with_shared_data(&self, key: &str, value: impl Into<Vec<u8>>, reads: u32) {
        let mut state = self.host.state.borrow_mut();
        if reads == 0 {
            state.interfering_writes.remove(key.as_bytes());
        } else {
            let write = (value.into(), reads);
            state
                .interfering_writes
                .insert(key.as_bytes().to_vec(), write);
        }
    }

    /// Enqueues `item` on queue `name` of this VM, as another VM would; the owner is told.
    ///
    /// # Errors
    /// `Status::NotFound` when no queue has that name.
    pub fn enqueue(&self, name: &str, item: impl Into<Vec<u8>>) -> Result<(), Status> {
        let mut state = self.host.state.borrow_mut();
        let Some(index) = state.queues.iter().position(|q| q.name == name) else {
            return Err(Status::NotFound);
        };
        state.queues[index].items.push_back(item.into());
        let owner = state.queues[index].owner;
        state.ready_queues.push((owner, index as u32 + 1));
        drop(state);
        self.deliver_ready_queues();
        Ok(())
    }

    /// Items left on queue `name`.
    pub fn queue_items(&self, name: &str) -> Vec<Vec<u8>> {
        let state = self.host.state.borrow();
        state
            .queues
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.items.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn deliver_ready_queues(&self) {
        loop {
            let next = {
                let mut state = self.host.state.borrow_mut();
                if state.ready_queues.is_empty() {
                    None
                } else {
                    Some(state.ready_queues.remove(0))
                }
            };
            let Some((owner, queue)) = next else { break };
            self.invoke(
                owner,
                "proxy_on_queue_ready",
                &[u64::from(owner), u64::from(queue)],
            );
        }
    }

    // ---- callouts ----

    /// Answers every HTTP callout the filter makes from now on with what `responder`
    /// returns for it (a response, or a failure), as soon as the callback that made it
    /// returns.
    pub fn answer_http_calls(&self, responder: impl FnMut(&HttpCall) -> CalloutReply + 'static) {
        *self.http_responder.borrow_mut() = Some(Box::new(responder));
    }

    /// Answers every gRPC call the filter makes from now on with what `responder` returns.
    pub fn answer_grpc_calls(&self, responder: impl FnMut(&GrpcCall) -> GrpcReply + 'static) {
        *self.grpc_responder.borrow_mut() = Some(Box::new(responder));
    }

    /// Delivers answers for the calls not answered yet, if responders are set.
    pub(crate) fn answer_pending_calls(&self) {
        loop {
            let next_http = {
                let state = self.host.state.borrow();
                let answered = self.answered.borrow();
                state
                    .http_calls
                    .iter()
                    .find(|c| !answered.contains(&c.token))
                    .cloned()
            };
            if let Some(call) = next_http {
                let Some(reply) = self.http_responder.borrow_mut().as_mut().map(|r| r(&call))
                else {
                    break;
                };
                match reply {
                    CalloutReply::Respond(response) => self.respond_http_call(call.token, response),
                    CalloutReply::Fail(reason) => self.fail_http_call(call.token, &reason),
                    CalloutReply::TimeOut => self.time_out_http_call(call.token),
                }
                continue;
            }
            let next_grpc = {
                let state = self.host.state.borrow();
                let answered = self.answered.borrow();
                // Unary calls only: a stream's events are the test's to send.
                state
                    .grpc_calls
                    .iter()
                    .find(|c| !c.stream && !answered.contains(&c.token))
                    .cloned()
            };
            let Some(call) = next_grpc else { break };
            let Some(reply) = self.grpc_responder.borrow_mut().as_mut().map(|r| r(&call)) else {
                break;
            };
            match reply {
                GrpcReply::Message(message) => self.respond_grpc_call(call.token, message),
                GrpcReply::Status(status, message) => {
                    self.close_grpc_call(call.token, status, &message)
                }
            }
        }
    }

    /// Every HTTP callout made so far.
    pub fn http_calls(&self) -> Vec<HttpCall> {
        self.host.state.borrow().http_calls.clone()
    }

    /// Answers HTTP callout `token` with `response`.
    pub fn respond_http_call(&self, token: u32, response: Response) {
        let message = response.into_message();
        self.deliver_http_call(token, message, (0, Vec::new()));
    }

    /// Times out HTTP callout `token` as Envoy does: it answers the call itself with
    /// `504` and the body `upstream request timeout`.
    pub fn time_out_http_call(&self, token: u32) {
        let timeout = Response::new(504)
            .header("content-type", "text/plain")
            .body("upstream request timeout");
        self.respond_http_call(token, timeout);
    }

    /// Fails HTTP callout `token` as Envoy does for a reset: no headers, and `reason` from
    /// `proxy_get_status`. (A service Envoy cannot connect to is answered `503` by Envoy
    /// itself; respond with that to model it.)
    pub fn fail_http_call(&self, token: u32, reason: &str) {
        self.deliver_http_call(token, Message::default(), (0, reason.as_bytes().to_vec()));
    }

    fn deliver_http_call(&self, token: u32, message: Message, status: (u32, Vec<u8>)) {
        self.answered.borrow_mut().insert(token);
        let context = self.callout_context(&self.host.state.borrow().http_calls, token, |c| {
            (c.token, c.context_id)
        });
        let counts = (
            message.headers.len(),
            message.body.len(),
            message.trailers.len(),
        );
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.callout.headers = message.headers;
            state.callout.body = message.body;
            state.callout.trailers = message.trailers;
            state.callout.status = status;
        }
        let args = [context, token].map(u64::from);
        let counts = [counts.0, counts.1, counts.2].map(|n| n as u64);
        self.call_into(
            context,
            "proxy_on_http_call_response",
            &[args[0], args[1], counts[0], counts[1], counts[2]],
        );
    }

    /// Every gRPC callout made so far.
    pub fn grpc_calls(&self) -> Vec<GrpcCall> {
        self.host.state.borrow().grpc_calls.clone()
    }

    /// Answers gRPC call `token`: initial metadata, one message, then status OK.
    pub fn respond_grpc_call(&self, token: u32, message: impl Into<Vec<u8>>) {
        self.send_grpc_initial_metadata(token, &[]);
        self.send_grpc_message(token, message);
        self.close_grpc_call(token, GrpcStatus::Ok, "");
    }

    /// The service sends its initial metadata on gRPC call or stream `token`: as Envoy
    /// delivers a service's response headers, `:status: 200` and `content-type:
    /// application/grpc`, then `metadata`.
    pub fn send_grpc_initial_metadata(&self, token: u32, metadata: &[(&str, &str)]) {
        let Some(context) = self.grpc_event_context(token) else {
            return;
        };
        let mut headers = to_pairs(&[(":status", "200"), ("content-type", "application/grpc")]);
        headers.extend(to_pairs(metadata));
        let count = headers.len();
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.callout.headers = headers;
        }
        self.grpc_event(
            context,
            token,
            "proxy_on_grpc_receive_initial_metadata",
            count as u64,
        );
    }

    /// The service sends one message on gRPC call or stream `token`.
    pub fn send_grpc_message(&self, token: u32, message: impl Into<Vec<u8>>) {
        let Some(context) = self.grpc_event_context(token) else {
            return;
        };
        let message = message.into();
        let size = message.len();
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.grpc_message = message;
        }
        self.grpc_event(context, token, "proxy_on_grpc_receive", size as u64);
    }

    /// The service sends its trailing metadata on gRPC call or stream `token`.
    pub fn send_grpc_trailing_metadata(&self, token: u32, metadata: &[(&str, &str)]) {
        let Some(context) = self.grpc_event_context(token) else {
            return;
        };
        let count = metadata.len();
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.callout.trailers = to_pairs(metadata);
        }
        self.grpc_event(
            context,
            token,
            "proxy_on_grpc_receive_trailing_metadata",
            count as u64,
        );
    }

    /// Closes gRPC call or stream `token` with `status` and `message`, as Envoy does when
    /// the service ends it (`Unavailable` when the service cannot be reached or goes away).
    pub fn close_grpc_call(&self, token: u32, status: GrpcStatus, message: &str) {
        let Some(context) = self.grpc_event_context(token) else {
            return;
        };
        let code = status.code();
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.callout.status = (code, message.as_bytes().to_vec());
        }
        self.grpc_event(context, token, "proxy_on_grpc_close", u64::from(code));
    }

    /// Delivers a gRPC event (`export` with its last argument) to `context`.
    fn grpc_event(&self, context: u32, token: u32, export: &str, last: u64) {
        self.call_into(
            context,
            export,
            &[u64::from(context), u64::from(token), last],
        );
    }

    /// The plugin context that gets call `token`'s events, unless the filter cancelled it
    /// (Envoy then delivers nothing more).
    fn grpc_event_context(&self, token: u32) -> Option<u32> {
        self.answered.borrow_mut().insert(token);
        let state = self.host.state.borrow();
        let call = state.grpc_calls.iter().find(|c| c.token == token);
        let call = call.unwrap_or_else(|| panic!("no gRPC call with token {token}"));
        (!call.cancelled).then_some(call.context_id)
    }

    fn callout_context<T>(&self, calls: &[T], token: u32, key: impl Fn(&T) -> (u32, u32)) -> u32 {
        calls
            .iter()
            .map(key)
            .find(|(t, _)| *t == token)
            .map(|(_, context)| context)
            .unwrap_or_else(|| panic!("no callout with token {token}"))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        crate::runtime::seam::unregister();
        install_host(None);
    }
}

thread_local! {
    /// The module the emulators of this thread load instead of the linked crate.
    static WASM_RUN: RefCell<Option<std::path::PathBuf>> = const { RefCell::new(None) };
}

/// Runs `test` with every [`Emulator::new`] in it loading the compiled module of the crate
/// whose manifest is in `manifest_dir` (`target/wasm32-wasip1/release/<crate>.wasm` of its
/// workspace, or of `$CARGO_TARGET_DIR`). This is the second run of an
/// [`emulator_test`]; call it directly for a test of your own.
///
/// # Panics
/// When the module is not built: with the command that builds it.
pub fn on_wasm(crate_name: &str, manifest_dir: &str, test: impl FnOnce() + Send + 'static) {
    let module = artifact(crate_name, std::path::Path::new(manifest_dir));
    // The interpreter and the host calls it makes back into the module (allocations) nest
    // on the thread's stack: in a debug build, more than a test thread's 2 MiB.
    let run = std::thread::Builder::new()
        .name(format!("{}_on_wasm", crate_name))
        .stack_size(64 << 20)
        .spawn(move || {
            WASM_RUN.with(|run| *run.borrow_mut() = Some(module));
            test();
        })
        .expect("a thread for the wasm run");
    if let Err(panic) = run.join() {
        std::panic::resume_unwind(panic);
    }
}

/// When the newest file at or under `path` changed.
fn newest_change(path: &std::path::Path) -> Option<SystemTime> {
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_dir() {
        return metadata.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| newest_change(&entry.path()))
        .max()
}

/// Where cargo puts crate `crate_name`'s release module.
fn artifact(crate_name: &str, manifest_dir: &std::path::Path) -> std::path::PathBuf {
    let file = format!("{}.wasm", crate_name.replace('-', "_"));
    let relative = std::path::Path::new("wasm32-wasip1/release").join(&file);
    let mut candidates: Vec<std::path::PathBuf> = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| std::path::PathBuf::from(dir).join(&relative))
        .into_iter()
        .collect();
    candidates.extend(
        manifest_dir
            .ancestors()
            .map(|dir| dir.join("target").join(&relative)),
    );
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        // A module older than the crate's sources would test yesterday's code.
        let built = std::fs::metadata(found).and_then(|m| m.modified()).ok();
        let changed = newest_change(&manifest_dir.join("src"))
            .into_iter()
            .chain(newest_change(&manifest_dir.join("Cargo.toml")))
            .max();
        if let (Some(built), Some(changed)) = (built, changed)
            && changed > built
        {
            panic!(
                "{} is older than {crate_name}'s sources: rebuild it with \
                 `cargo build --release --target wasm32-wasip1 -p {crate_name}`",
                found.display()
            );
        }
        return found.clone();
    }
    panic!(
        "the wasm run of this test needs {crate_name}'s module, which is not built: \
         run `cargo build --release --target wasm32-wasip1 -p {crate_name}` first \
         (looked for {})",
        candidates
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn to_pairs(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

impl Response {
    fn into_message(self) -> Message {
        let (headers, body, trailers) = self.into_parts();
        Message {
            headers,
            body: body.concat(),
            trailers,
        }
    }
}
