//! Owns the contexts and routes each guest export to the plugin or filter it is for.
//!
//! A filter is taken out of its slot while its callback runs, so no borrow is held during
//! user code: a host call that re-enters the guest (Envoy may run the response path of a
//! local reply at once) finds the slot empty and continues instead of panicking.

use crate::abi::{Action, BufferType, StreamType};
pub use crate::callout::GrpcEvent;
use crate::callout::{CallKind, CallRouting, Calls, Response, read_grpc_event, read_http_response};
use crate::config;
use crate::error::Error;
use crate::filter::{
    FilterExports, HttpFilter, RequestBodyOps, RequestHeadersOps, RequestTrailersOps,
    ResponseBodyOps, ResponseHeadersOps, ResponseTrailersOps, StreamDoneOps,
};
use crate::grpc::GrpcStreamEvent;
use crate::headers::HeaderError;
use crate::host::{self, HostError, HostResult};
use crate::plugin::{ConfigureOps, Plugin, PluginOps, PluginServices};
use crate::reply::LocalReply;
use crate::runtime::connections::{ConnectionContext, Connections};
use crate::runtime::{logger, streams};
use crate::shared::SharedQueue;
use crate::timer::{self, Timers};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

/// The HTTP callback being delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `proxy_on_request_headers`
    RequestHeaders,
    /// `proxy_on_request_body`
    RequestBody,
    /// `proxy_on_request_trailers`
    RequestTrailers,
    /// `proxy_on_response_headers`
    ResponseHeaders,
    /// `proxy_on_response_body`
    ResponseBody,
    /// `proxy_on_response_trailers`
    ResponseTrailers,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::RequestHeaders => "on_request_headers",
            Phase::RequestBody => "on_request_body",
            Phase::RequestTrailers => "on_request_trailers",
            Phase::ResponseHeaders => "on_response_headers",
            Phase::ResponseBody => "on_response_body",
            Phase::ResponseTrailers => "on_response_trailers",
        })
    }
}

pub(crate) trait RootContext {
    fn configure(&self, root_context_id: u32, configuration_size: usize) -> bool;
    /// Creates the filter of a new stream (`None` for a stateless filter, or before the
    /// plugin is configured).
    fn create_stream(&self) -> Option<Box<dyn StreamContext>>;
    /// Creates the filter of a new connection (`None` when the plugin has no network
    /// filter, or before it is configured).
    fn create_connection(&self) -> Option<Box<dyn ConnectionContext>>;
    fn on_tick(&self, root_context_id: u32);
    fn on_queue_ready(&self, root_context_id: u32, queue_id: u32);
    /// The configured plugin, for the emulator to hand to a test.
    #[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
    fn plugin(&self) -> Option<Rc<dyn std::any::Any>>;
    /// Sets the plugin's tick for its streams' nearest timer, `next` (nanoseconds on the
    /// host's clock; `None` when they have none).
    fn set_streams_next(&self, next: Option<u64>, now: u64) -> HostResult<()>;
    /// Runs the plugin's handler of its gRPC stream `token` with `event`.
    fn on_grpc_stream(&self, root_context_id: u32, token: u32, event: GrpcStreamEvent);
    /// Drops the handler of the plugin's cancelled stream `token`.
    fn forget_stream(&self, token: u32);
}

/// A call: its kind and the host's token for it (Envoy numbers each kind apart).
type CallId = (CallKind, u32);

/// Whether a handler ran, and what it returned.
type Ran = Option<Result<(), Error>>;

pub(crate) trait StreamContext {
    fn on_http(
        &mut self,
        context_id: u32,
        phase: Phase,
        size: usize,
        end_of_stream: bool,
    ) -> Action;
    fn on_stream_done(&mut self);
    /// Runs the handler of this stream's call; `None` if it has no such call.
    fn on_callout_response(&mut self, context_id: u32, call: CallId, response: Response) -> Ran;
}

struct Root<P: Plugin, C> {
    plugin: RefCell<Option<Rc<P>>>,
    services: PluginServices<P>,
    connections: std::marker::PhantomData<C>,
}

impl<P: Plugin, C: Connections<P>> RootContext for Root<P, C>
where
    P::Filter: FilterExports,
{
    fn configure(&self, root_context_id: u32, configuration_size: usize) -> bool {
        let bytes = if configuration_size == 0 {
            Vec::new()
        } else {
            match host::buffers::get(BufferType::PluginConfiguration, 0, configuration_size) {
                Ok(bytes) => bytes.unwrap_or_default(),
                Err(error) => {
                    log::error!("cannot read the plugin configuration: {error}");
                    return false;
                }
            }
        };
        if !<P::Filter as FilterExports>::EXPORTS.is_empty() {
            // Several plugins may share this VM; streams find theirs by this name.
            let root_id = host::properties::get(&["plugin_root_id"]).ok().flatten();
            DISPATCHER.with(|d| {
                let mut d = d.borrow_mut();
                if let Some(entry) = d.roots.iter_mut().find(|e| e.context_id == root_context_id) {
                    entry.root_id = root_id;
                }
            });
        }
        let plugin = config::parse::<P::Config>(&bytes).and_then(|config| {
            P::configure(
                config,
                &mut ConfigureOps::new(root_context_id, &self.services),
            )
        });
        match plugin {
            Ok(plugin) => {
                let plugin = Rc::new(plugin);
                let filters = !<P::Filter as FilterExports>::EXPORTS.is_empty();
                if filters && <P::Filter as FilterExports>::STATELESS {
                    // Envoy does not announce streams to a stateless filter's module: its
                    // one value is made here, once, and serves every stream.
                    let filter: Box<dyn StreamContext> =
                        Box::new(Filter::new(plugin.clone().create_filter()));
                    DISPATCHER.with(|d| d.borrow_mut().stateless = Some(filter));
                }
                *self.plugin.borrow_mut() = Some(plugin);
                true
            }
            Err(error) => {
                log::error!("invalid plugin configuration: {error}");
                #[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
                REFUSED_CONFIG.with(|slot| *slot.borrow_mut() = Some(error));
                false
            }
        }
    }

    fn create_stream(&self) -> Option<Box<dyn StreamContext>> {
        // A stateless filter has one value, made at configure time: none per stream. A
        // constant: such a module links no per-stream bookkeeping.
        if <P::Filter as FilterExports>::STATELESS {
            return None;
        }
        let plugin = self.plugin.borrow().clone()?;
        Some(Box::new(Filter::new(plugin.create_filter())))
    }

    fn create_connection(&self) -> Option<Box<dyn ConnectionContext>> {
        C::create(self.plugin.borrow().clone()?)
    }

    fn on_tick(&self, root_context_id: u32) {
        if let Some(plugin) = self.plugin.borrow().clone() {
            Timers::run_due(&self.services, &plugin, root_context_id);
        }
        let streams = DISPATCHER.with(|d| d.borrow().stream_tick);
        if let Some(run) = streams {
            run(root_context_id);
        }
    }

    fn on_queue_ready(&self, root_context_id: u32, queue_id: u32) {
        if let Some(plugin) = self.plugin.borrow().clone() {
            plugin.on_queue_ready(
                SharedQueue::from_id(queue_id),
                &mut PluginOps::new(root_context_id, &self.services),
            );
        }
    }

    #[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
    fn plugin(&self) -> Option<Rc<dyn std::any::Any>> {
        let plugin = self.plugin.borrow().clone()?;
        Some(plugin)
    }

    fn set_streams_next(&self, next: Option<u64>, now: u64) -> HostResult<()> {
        let mut timers = self.services.timers.borrow_mut();
        timers.tick.streams_next = next;
        timers.tick.arm(now)
    }

    fn on_grpc_stream(&self, root_context_id: u32, token: u32, event: GrpcStreamEvent) {
        let Some(plugin) = self.plugin.borrow().clone() else {
            return;
        };
        let last = matches!(event, GrpcStreamEvent::Closed { .. });
        // Its own statement: the handlers must not stay borrowed while one runs.
        let handler = self.services.streams.borrow_mut().take(token);
        let Some(mut handler) = handler else {
            return;
        };
        handler(
            &plugin,
            event,
            &mut PluginOps::new(root_context_id, &self.services),
        );
        let mut streams = self.services.streams.borrow_mut();
        if last || !streams::routed(token) {
            streams.remove(token);
        } else {
            streams.put_back(token, handler);
        }
    }

    fn forget_stream(&self, token: u32) {
        if let Ok(mut streams) = self.services.streams.try_borrow_mut() {
            streams.remove(token);
        }
    }
}

/// A stream's filter and the calls it has in flight.
struct Filter<F: HttpFilter> {
    filter: F,
    calls: Calls<F>,
}

impl<F: HttpFilter> Filter<F> {
    const fn new(filter: F) -> Self {
        Filter {
            filter,
            calls: Calls::new(),
        }
    }
}

impl<F: HttpFilter> StreamContext for Filter<F> {
    fn on_http(&mut self, id: u32, phase: Phase, size: usize, eos: bool) -> Action {
        let (f, c) = (&mut self.filter, &mut self.calls);
        let result = match phase {
            Phase::RequestHeaders => f.on_request_headers(&mut RequestHeadersOps::new(id, eos, c)),
            Phase::RequestBody => f.on_request_body(&mut RequestBodyOps::new(id, size, eos, c)),
            Phase::RequestTrailers => f.on_request_trailers(&mut RequestTrailersOps::new(id, c)),
            Phase::ResponseHeaders => {
                f.on_response_headers(&mut ResponseHeadersOps::new(id, eos, c))
            }
            Phase::ResponseBody => f.on_response_body(&mut ResponseBodyOps::new(id, size, eos, c)),
            Phase::ResponseTrailers => f.on_response_trailers(&mut ResponseTrailersOps::new(id, c)),
        };
        let direction = match phase {
            Phase::ResponseHeaders | Phase::ResponseBody | Phase::ResponseTrailers => {
                StreamType::HttpResponse
            }
            _ => StreamType::HttpRequest,
        };
        result.unwrap_or_else(|error| answer_error(&phase, error, direction))
    }

    fn on_stream_done(&mut self) {
        self.filter.on_stream_done(&mut StreamDoneOps::new());
    }

    fn on_callout_response(&mut self, context_id: u32, call: CallId, response: Response) -> Ran {
        let (kind, token) = call;
        self.calls
            .respond(kind, token, response, &mut self.filter, context_id)
    }
}

/// Turns a callback's `Err` into a local reply; if even that fails, resets the stream.
pub(crate) fn answer_error(
    callback: &dyn fmt::Display,
    error: Error,
    direction: StreamType,
) -> Action {
    log::error!(
        "{callback} failed: {error} (answering {})",
        error.status_code()
    );
    let sent = match error.reply().send() {
        // The filter's reply carried a header that could split the response: a plain 500
        // goes instead, without it.
        Err(HeaderError::Invalid(invalid)) => {
            log::error!("{callback}: its local reply was refused ({invalid}); answering 500");
            LocalReply::new(500).send()
        }
        other => other,
    };
    if let Err(send_error) = sent {
        log::error!("{callback}: cannot send the local reply ({send_error}); resetting the stream");
        let _ = host::stream::close(direction);
    }
    Action::Pause
}

/// Runs user code. Off wasm, a panic must not cross the `extern "C"` exports (that aborts
/// the whole test process): it is caught here and kept for the in-process host to re-raise.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn guarded<R: Default>(user_code: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(user_code)) {
        Ok(result) => result,
        Err(payload) => {
            GUEST_PANIC.with(|slot| *slot.borrow_mut() = Some(payload));
            R::default()
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn guarded<R>(user_code: impl FnOnce() -> R) -> R {
    user_code()
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static GUEST_PANIC: RefCell<Option<Box<dyn std::any::Any + Send>>> = const { RefCell::new(None) };
}

#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
thread_local! {
    static REFUSED_CONFIG: RefCell<Option<config::ConfigError>> = const { RefCell::new(None) };
}

/// Why the last configuration was refused, if it was (for the emulator's `ConfigureFailed`).
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) fn take_refused_config() -> Option<config::ConfigError> {
    REFUSED_CONFIG.with(|slot| slot.borrow_mut().take())
}

/// The configured plugin of context `root_context_id`, if it is a `P`.
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) fn configured_plugin<P: 'static>(root_context_id: u32) -> Option<Rc<P>> {
    root(root_context_id)?.plugin()?.downcast::<P>().ok()
}

/// The panic the last guest callback raised, if any (off wasm).
#[cfg(all(
    any(feature = "testing", feature = "dynamic-module"),
    not(target_arch = "wasm32")
))]
pub(crate) fn take_guest_panic() -> Option<Box<dyn std::any::Any + Send>> {
    GUEST_PANIC.with(|slot| slot.borrow_mut().take())
}

/// Makes the filter of stream `context_id`.
type NewStream = fn(u32) -> Option<Box<dyn StreamContext>>;

/// Live contexts' filters, by context id (`None` while one runs). A list: a worker has a
/// few dozen at most, and a list that keeps its capacity allocates nothing per context,
/// unlike a tree.
pub(crate) struct Slots<C: ?Sized>(Vec<(u32, Option<Box<C>>)>);

impl<C: ?Sized> Slots<C> {
    const fn new() -> Self {
        Slots(Vec::new())
    }

    pub(crate) fn get_mut(&mut self, context_id: &u32) -> Option<&mut Option<Box<C>>> {
        self.0
            .iter_mut()
            .find(|(id, _)| id == context_id)
            .map(|(_, slot)| slot)
    }

    pub(crate) fn insert(&mut self, context_id: u32, slot: Option<Box<C>>) {
        self.0.push((context_id, slot));
    }

    pub(crate) fn remove(&mut self, context_id: &u32) -> Option<Option<Box<C>>> {
        let at = self.0.iter().position(|(id, _)| id == context_id)?;
        Some(self.0.swap_remove(at).1)
    }
}

/// A plugin context.
struct RootEntry {
    context_id: u32,
    /// Its `plugin_root_id`, read when it is configured, to tell plugins sharing a VM apart.
    root_id: Option<Vec<u8>>,
    root: Rc<dyn RootContext>,
}

pub(crate) struct Dispatcher {
    new_root: Option<NewRoot>,
    /// Other plugins of the module, by the `root_id` they run under.
    other_roots: Vec<(&'static str, NewRoot)>,
    /// Makes a stream's filter at its first callback; `None` for a stateless filter.
    new_stream: Option<NewStream>,
    /// A stateless filter's one value (made when the plugin is configured), which serves
    /// every stream: Envoy never tells such a module when a stream starts or ends.
    stateless: Option<Box<dyn StreamContext>>,
    /// Plugin contexts: a handful per VM, so a list is enough (and smaller than a map).
    roots: Vec<RootEntry>,
    /// Live streams and their filters.
    streams: Slots<dyn StreamContext>,
    /// Live connections and their network filters.
    pub(crate) connections: Slots<dyn ConnectionContext>,
    /// Whether the module exports `proxy_on_delete` (a stateful HTTP filter): then Envoy
    /// also announces a connection's deletion, and its slot is freed there.
    pub(crate) deletes_exported: bool,
    /// Calls waiting for a response: each to the stream that made it (which keeps the
    /// handler, typed by its filter).
    pub(crate) callouts: BTreeMap<(CallKind, u32), (u32, usize)>,
    /// Readers of callout responses, installed by the first call of each kind, so that a
    /// module that never calls out carries none of the code that reads responses.
    http_deliver: Option<fn(u32, usize, usize)>,
    pub(crate) grpc_deliver: Option<fn(u32, GrpcEvent)>,
    /// Streams' timers (`after`): plugin context, deadline, token.
    stream_timers: Vec<(u32, u64, u32)>,
    /// Runs a plugin's due stream timers on its tick; installed by the first stream timer,
    /// so a module without any links none of it.
    stream_tick: Option<fn(u32)>,
}

impl Dispatcher {
    const fn new() -> Self {
        Dispatcher {
            new_root: None,
            other_roots: Vec::new(),
            new_stream: None,
            stateless: None,
            roots: Vec::new(),
            streams: Slots::new(),
            connections: Slots::new(),
            deletes_exported: false,
            callouts: BTreeMap::new(),
            http_deliver: None,
            grpc_deliver: None,
            stream_timers: Vec::new(),
            stream_tick: None,
        }
    }
}

thread_local! {
    // Built at compile time: no lazy initialisation to check on each callback.
    pub(crate) static DISPATCHER: RefCell<Dispatcher> = const { RefCell::new(Dispatcher::new()) };
}

/// Makes a plugin context of one plugin type.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct NewRoot(fn() -> Rc<dyn RootContext>);

fn new_root<P: Plugin, C: Connections<P>>() -> Rc<dyn RootContext>
where
    P::Filter: FilterExports,
{
    Rc::new(Root::<P, C> {
        plugin: RefCell::new(None),
        services: PluginServices::default(),
        connections: std::marker::PhantomData,
    })
}

/// How [`register`] makes contexts of plugin `P` (one of a module's other plugins), with
/// its network filter when `connections` says it has one.
pub fn root_of<P: Plugin, C: Connections<P>>(connections: C) -> NewRoot
where
    P::Filter: FilterExports,
{
    let _ = connections;
    NewRoot(new_root::<P, C>)
}

/// Makes `P` the plugin of this module (of this thread, off wasm), with its network filter
/// when `connections` says it has one, and `others` for the plugins configured under
/// those `root_id`s, dropping any contexts.
pub fn register<P: Plugin, C: Connections<P>>(connections: C, others: Vec<(&'static str, NewRoot)>)
where
    P::Filter: FilterExports,
{
    let _ = connections;
    let stateless = <P::Filter as FilterExports>::STATELESS;
    let filters = !<P::Filter as FilterExports>::EXPORTS.is_empty();
    DISPATCHER.with(|d| {
        *d.borrow_mut() = Dispatcher {
            new_root: Some(NewRoot(new_root::<P, C>)),
            other_roots: others,
            new_stream: if stateless { None } else { Some(new_stream) },
            deletes_exported: filters && !stateless,
            ..Dispatcher::new()
        }
    });
    #[cfg(all(
        any(feature = "testing", feature = "dynamic-module"),
        not(target_arch = "wasm32")
    ))]
    EXPORTED.with(|exported| {
        let mut exported = exported.borrow_mut();
        exported.clear();
        exported.extend_from_slice(<P::Filter as FilterExports>::EXPORTS);
        exported.extend_from_slice(C::exports());
    });
}

#[cfg(all(
    any(feature = "testing", feature = "dynamic-module"),
    not(target_arch = "wasm32")
))]
thread_local! {
    static EXPORTED: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// Whether the registered filter's module exports stream callback `name` (off wasm).
#[cfg(all(
    any(feature = "testing", feature = "dynamic-module"),
    not(target_arch = "wasm32")
))]
pub(crate) fn exports(name: &str) -> bool {
    EXPORTED.with(|exported| exported.borrow().contains(&name))
}

/// Drops the registered plugin and every context (the emulator's teardown).
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) fn unregister() {
    DISPATCHER.with(|d| *d.borrow_mut() = Dispatcher::new());
}

/// Creates plugin context `context_id` when Envoy first starts or configures it (modules
/// do not export `proxy_on_context_create`).
#[inline(never)] // reached from two exports; once in the module is enough
fn create_root(context_id: u32) {
    logger::init();
    // Which plugin: another of the module's, if its `root_id` is this context's.
    let others = DISPATCHER.with(|d| !d.borrow().other_roots.is_empty());
    let root_id = others
        .then(|| host::properties::get(&["plugin_root_id"]).ok().flatten())
        .flatten();
    DISPATCHER.with(|d| {
        let mut d = d.borrow_mut();
        let other = d
            .other_roots
            .iter()
            .find(|(id, _)| root_id.as_deref() == Some(id.as_bytes()))
            .map(|(_, new_root)| *new_root);
        match other.or(d.new_root) {
            Some(NewRoot(new_root)) => {
                let root = new_root();
                d.roots.retain(|entry| entry.context_id != context_id);
                d.roots.push(RootEntry {
                    context_id,
                    root_id: None,
                    root,
                });
            }
            None => log::error!("no plugin registered: is `envoy_wasm_sdk::entry!` missing?"),
        }
    });
}

pub(crate) fn on_vm_start(root_context_id: u32, _vm_configuration_size: usize) -> bool {
    if root(root_context_id).is_none() {
        create_root(root_context_id);
    }
    logger::init();
    true
}

pub(crate) fn on_configure(root_context_id: u32, configuration_size: usize) -> bool {
    logger::refresh_level();
    if root(root_context_id).is_none() {
        create_root(root_context_id);
    }
    match root(root_context_id) {
        Some(root) => guarded(|| root.configure(root_context_id, configuration_size)),
        None => {
            log::error!("configure for unknown plugin context {root_context_id}");
            false
        }
    }
}

/// Where a stream's filter was taken from, to put it back there.
enum Taken {
    Stream,
    Stateless,
}

/// Runs `call` on the stream's filter, taken out of its slot while it runs. A stream's
/// filter is made at the stream's first callback: Envoy need not announce streams
/// (`proxy_on_context_create` is not exported), which saves a VM crossing per request.
pub(crate) fn with_stream<R>(
    context_id: u32,
    call: impl FnOnce(&mut dyn StreamContext) -> R,
) -> Option<R> {
    let found = DISPATCHER.with(|d| {
        let mut d = d.borrow_mut();
        if let Some(slot) = d.streams.get_mut(&context_id) {
            // Empty while its filter runs: a host call re-entering the guest finds it so.
            return Some(slot.take().map(|filter| (filter, Taken::Stream)));
        }
        d.stateless
            .take()
            .map(|filter| Some((filter, Taken::Stateless)))
    });
    let (mut filter, taken) = match found {
        Some(taken) => taken?,
        None => {
            let make = DISPATCHER.with(|d| d.borrow().new_stream)?;
            (make(context_id)?, Taken::Stream)
        }
    };
    let result = logger::for_stream(|| call(&mut *filter));
    DISPATCHER.with(|d| {
        let mut d = d.borrow_mut();
        match taken {
            Taken::Stateless => drop(d.stateless.get_or_insert(filter)),
            Taken::Stream => {
                if let Some(slot) = d.streams.get_mut(&context_id) {
                    *slot = Some(filter);
                }
            }
        }
    });
    Some(result)
}

/// Makes the filter of a new stream and reserves its slot (installed for filters with
/// state per stream only, so a stateless module links none of this).
fn new_stream(context_id: u32) -> Option<Box<dyn StreamContext>> {
    let filter = root_of_stream()?.create_stream()?;
    DISPATCHER.with(|d| d.borrow_mut().streams.insert(context_id, None));
    Some(filter)
}

/// The plugin of the stream whose callback is running: the only one, or (when several
/// plugins share this VM) the one whose `root_id` the stream's `plugin_root_id` names.
pub(crate) fn root_of_stream() -> Option<Rc<dyn RootContext>> {
    root_entry_of_stream().map(|(_, root)| root)
}

/// [`root_of_stream`], with the plugin context's id.
fn root_entry_of_stream() -> Option<(u32, Rc<dyn RootContext>)> {
    let single = DISPATCHER.with(|d| {
        let d = d.borrow();
        match d.roots.as_slice() {
            [only] => Some(Some((only.context_id, only.root.clone()))),
            [] => Some(None),
            _ => None,
        }
    });
    if let Some(root) = single {
        return root;
    }
    let name = host::properties::get(&["plugin_root_id"]).ok().flatten();
    DISPATCHER.with(|d| {
        let d = d.borrow();
        d.roots
            .iter()
            .find(|entry| name.is_some() && entry.root_id == name)
            .or(d.roots.first())
            .map(|entry| (entry.context_id, entry.root.clone()))
    })
}

pub(crate) fn on_http(context_id: u32, phase: Phase, size: usize, end_of_stream: bool) -> u32 {
    let run =
        |filter: &mut dyn StreamContext| filter.on_http(context_id, phase, size, end_of_stream);
    guarded(|| with_stream(context_id, run))
        .unwrap_or(Action::Continue)
        .raw()
}

pub(crate) fn on_log(context_id: u32) {
    // A connection's last look came with its close (see `connections`).
    if DISPATCHER.with(|d| d.borrow_mut().connections.get_mut(&context_id).is_some()) {
        return;
    }
    guarded(|| with_stream(context_id, |filter| filter.on_stream_done()));
}

pub(crate) fn on_delete(context_id: u32) {
    // Dropped after the dispatcher is released: a filter's `Drop` is user code.
    let gone = DISPATCHER.with(|d| {
        let mut d = d.borrow_mut();
        let stream = d.streams.remove(&context_id);
        let connection = d.connections.remove(&context_id);
        if stream.is_none() && connection.is_none() {
            d.roots.retain(|entry| entry.context_id != context_id);
        }
        (stream, connection)
    });
    drop(gone);
}

pub(crate) fn root(root_context_id: u32) -> Option<Rc<dyn RootContext>> {
    DISPATCHER.with(|d| {
        d.borrow()
            .roots
            .iter()
            .find(|entry| entry.context_id == root_context_id)
            .map(|entry| entry.root.clone())
    })
}

pub(crate) fn on_tick(root_context_id: u32) {
    if let Some(root) = root(root_context_id) {
        guarded(|| root.on_tick(root_context_id));
    }
}

pub(crate) fn on_queue_ready(root_context_id: u32, queue_id: u32) {
    if let Some(root) = root(root_context_id) {
        guarded(|| root.on_queue_ready(root_context_id, queue_id));
    }
}

pub(crate) fn on_foreign_function(root_context_id: u32, function_id: u32, _arguments_size: usize) {
    log::debug!("foreign function {function_id} for plugin context {root_context_id}: no handler");
}

/// Runs the handler waiting for call `token` with the filter that made the call.
fn deliver(kind: CallKind, token: u32, read_response: impl FnOnce(usize) -> Option<Response>) {
    let Some((context_id, limit)) =
        DISPATCHER.with(|d| d.borrow().callouts.get(&(kind, token)).copied())
    else {
        log::debug!("response to callout {token}, which nobody waits for");
        return;
    };
    // Envoy delivers the response on the plugin's context, which holds it: read it there,
    // then act on the stream that made the call.
    let Some(response) = read_response(limit) else {
        return;
    };
    DISPATCHER.with(|d| d.borrow_mut().callouts.remove(&(kind, token)));
    if let Err(error) = host::context::set_effective_context(context_id) {
        log::debug!("response to callout {token}: its stream {context_id} is gone ({error})");
        return;
    }
    let delivered = guarded(|| {
        with_stream(context_id, |stream| {
            stream.on_callout_response(context_id, (kind, token), response)
        })
    });
    match delivered.flatten() {
        Some(Ok(())) => {}
        Some(Err(error)) => {
            answer_error(
                &format_args!("callout {token}"),
                error,
                StreamType::HttpRequest,
            );
        }
        None => log::debug!("response to callout {token}: its stream {context_id} is gone"),
    }
}

/// Routing is instantiated only where a filter calls out (see [`CallRouting`]): the code
/// that delivers responses is linked into modules that make calls, and only those.
impl<F: HttpFilter> CallRouting for F {
    fn route(kind: CallKind, token: u32, context_id: u32, max_response_bytes: usize) {
        DISPATCHER.with(|d| {
            let mut d = d.borrow_mut();
            d.callouts
                .insert((kind, token), (context_id, max_response_bytes));
            match kind {
                CallKind::Http => d.http_deliver = Some(deliver_http_response),
                CallKind::Grpc | CallKind::GrpcStream => d.grpc_deliver = Some(deliver_grpc_event),
                CallKind::Timer => {}
            }
        });
        if kind == CallKind::GrpcStream {
            crate::grpc::on_cancel(streams::forget);
        }
    }

    fn routed(kind: CallKind, token: u32) -> bool {
        DISPATCHER.with(|d| d.borrow().callouts.contains_key(&(kind, token)))
    }

    fn forget(kind: CallKind, token: u32) {
        // A filter dropped as the dispatcher is torn down finds it borrowed: all goes.
        DISPATCHER.with(|d| {
            if let Ok(mut d) = d.try_borrow_mut() {
                d.callouts.remove(&(kind, token));
            }
        });
    }

    fn schedule(token: u32, context_id: u32, delay: Duration) -> HostResult<()> {
        let Some((root_context_id, root)) = root_entry_of_stream() else {
            return Err(HostError {
                call: "proxy_set_tick_period_milliseconds",
                status: crate::abi::Status::NotFound,
            });
        };
        let now = timer::now_nanos()?;
        let due = now.saturating_add(timer::duration_nanos(delay));
        let next = DISPATCHER.with(|d| {
            let mut d = d.borrow_mut();
            d.callouts.insert((CallKind::Timer, token), (context_id, 0));
            d.stream_timers.push((root_context_id, due, token));
            d.stream_tick = Some(run_stream_timers);
            next_stream_timer(&d, root_context_id)
        });
        root.set_streams_next(next, now)
    }
}

/// The nearest stream timer of plugin context `root_context_id`.
fn next_stream_timer(d: &Dispatcher, root_context_id: u32) -> Option<u64> {
    d.stream_timers
        .iter()
        .filter(|(root, _, _)| *root == root_context_id)
        .map(|(_, due, _)| *due)
        .min()
}

/// A plugin's tick: runs its streams' due timers (each with its filter, as a callout
/// response), then sets the tick for the next.
fn run_stream_timers(root_context_id: u32) {
    let Ok(now) = timer::now_nanos() else {
        return;
    };
    let due: Vec<u32> = DISPATCHER.with(|d| {
        let mut d = d.borrow_mut();
        let mut due = Vec::new();
        d.stream_timers.retain(|(root, at, token)| {
            let fire = *root == root_context_id && *at <= now;
            if fire {
                due.push(*token);
            }
            !fire
        });
        due
    });
    for token in due {
        deliver(CallKind::Timer, token, |_| Some(Response::Timer));
    }
    let next = DISPATCHER.with(|d| next_stream_timer(&d.borrow(), root_context_id));
    if let Some(root) = root(root_context_id) {
        // The tick belongs to the plugin: back on its context before setting it.
        let set = host::context::set_effective_context(root_context_id)
            .and_then(|()| root.set_streams_next(next, now));
        if let Err(error) = set {
            log::error!("cannot set the tick for stream timers: {error}");
        }
    }
}

fn deliver_http_response(token: u32, headers: usize, body_size: usize) {
    deliver(CallKind::Http, token, |limit| {
        Some(read_http_response(headers, body_size, limit))
    });
}

/// A gRPC event: for a unary call, or for a stream.
pub(crate) fn deliver_grpc_event(token: u32, event: GrpcEvent) {
    let unary = DISPATCHER.with(|d| d.borrow().callouts.contains_key(&(CallKind::Grpc, token)));
    if unary {
        deliver(CallKind::Grpc, token, |limit| read_grpc_event(event, limit));
    } else {
        streams::deliver(token, event);
    }
}

pub(crate) fn on_http_call_response(
    _context_id: u32,
    token: u32,
    headers: usize,
    body_size: usize,
    _trailers: usize,
) {
    match DISPATCHER.with(|d| d.borrow().http_deliver) {
        Some(deliver) => deliver(token, headers, body_size),
        None => log::debug!("response to callout {token}, which nobody waits for"),
    }
}

pub(crate) fn on_grpc_event(_context_id: u32, token: u32, event: GrpcEvent) {
    match DISPATCHER.with(|d| d.borrow().grpc_deliver) {
        Some(deliver) => deliver(token, event),
        None => log::debug!("event for callout {token}, which nobody waits for"),
    }
}
