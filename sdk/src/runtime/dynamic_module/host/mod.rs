//! The proxy-wasm host functions, answered with Envoy's dynamic-module callbacks: one
//! [`NativeHost`] per Envoy thread, installed as that thread's
//! [`imports::Host`](crate::abi::imports::Host).
//!
//! A call acts on the stream whose hook is running (or that `proxy_set_effective_context`
//! chose), and on the plugin configuration it belongs to: the host's [`Scope`].

use super::ticks::Ticks;
use super::{Kind, Metric, PluginConfig};
use crate::abi::dynamic_module::{
    self as dm, BootstrapTimerPtr, EnvoyBuffer, FilterEnvoyPtr, ModuleBuffer, ModuleHeader,
    NetworkFilterEnvoyPtr, TimingInfo, body, callbacks, header_map,
};
use crate::abi::imports::*;
use crate::abi::{BufferType, LogLevel, MapType, MetricType, Status, StreamType, pairs};
use crate::runtime::state::HoldsBound;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::SystemTime;

const OK: u32 = Status::Ok.raw();
const NOT_FOUND: u32 = Status::NotFound.raw();
const BAD_ARGUMENT: u32 = Status::BadArgument.raw();
const UNIMPLEMENTED: u32 = Status::Unimplemented.raw();
const INTERNAL_FAILURE: u32 = Status::InternalFailure.raw();

/// Calls Envoy's callback `$name`; `None` when this Envoy has none.
macro_rules! envoy {
    ($name:ident($($arg:expr),* $(,)?)) => {
        match callbacks().$name {
            // SAFETY: an Envoy callback, called on the thread of the hook that is running,
            // with Envoy's objects from that hook and pointers to live locals and slices,
            // each valid for the whole call with its length beside it.
            Some(callback) => Some(unsafe { callback($($arg),*) }),
            None => None,
        }
    };
}

// One file per ABI area, as in `crate::host`; after `envoy!`, which they call Envoy with.
mod buffers;
mod callouts;
mod connection;
mod context;
mod foreign;
mod grpc;
mod headers;
mod log;
mod metrics;
mod properties;
mod shared;
mod stream;

pub(super) use grpc::Finished;
mod time;

/// What a host call acts on: a stream or a connection (`filter`, null for none) of a
/// configuration. A scope with a filter and no stream object is a connection's.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scope {
    /// Envoy's HTTP filter of the stream, or its network filter of the connection.
    pub(super) filter: FilterEnvoyPtr,
    pub(super) plugin: *const PluginConfig,
    /// The stream's object (none for a plugin or a connection). A scope naming one is
    /// set only while the object is alive: by the stream's own hooks, which hold it, or
    /// from the host's registry, which holds it until the stream's `destroy`.
    stream: Option<NonNull<dyn HoldsBound>>,
}

impl Scope {
    const NONE: Scope = Scope {
        filter: std::ptr::null_mut(),
        plugin: std::ptr::null(),
        stream: None,
    };

    /// The plugin context of `plugin`, with no stream.
    pub(super) fn plugin(plugin: &'static PluginConfig) -> Scope {
        Scope {
            plugin,
            ..Scope::NONE
        }
    }

    /// A connection of `plugin`, whose network filter is `filter`.
    pub(super) fn connection(
        filter: NetworkFilterEnvoyPtr,
        plugin: &'static PluginConfig,
    ) -> Scope {
        Scope {
            filter,
            plugin,
            stream: None,
        }
    }

    /// A stream of `plugin`, whose filter is `filter` and whose object is `stream` (kept
    /// in an `Rc`, alive while the scope is set: see the field).
    #[cfg(test)]
    pub(super) fn stream(
        filter: FilterEnvoyPtr,
        plugin: &'static PluginConfig,
        stream: &(dyn HoldsBound + 'static),
    ) -> Scope {
        Scope::stream_at(filter, plugin, NonNull::from(stream))
    }

    /// [`stream`](Self::stream), with the object by its place: a stream's object keeps its
    /// own scope, which names the object it is in.
    pub(super) fn stream_at(
        filter: FilterEnvoyPtr,
        plugin: &'static PluginConfig,
        stream: NonNull<dyn HoldsBound>,
    ) -> Scope {
        Scope {
            filter,
            plugin,
            stream: Some(stream),
        }
    }

    /// The same scope for Envoy's `filter` of a stream of `plugin` (a spare object bound
    /// anew).
    pub(super) fn rebind(&mut self, filter: FilterEnvoyPtr, plugin: &'static PluginConfig) {
        (self.filter, self.plugin) = (filter, plugin);
    }

    /// The stream's object, while the scope is set.
    fn stream_object(&self) -> Option<&dyn HoldsBound> {
        // SAFETY: a scope naming a stream's object is set only while the object is alive
        // (see the field), and only shared references to it are made.
        self.stream.map(|stream| unsafe { stream.as_ref() })
    }

    fn plugin_config(&self) -> Option<&'static PluginConfig> {
        // SAFETY: a scope's configuration is leaked (never freed; see `retire`).
        unsafe { self.plugin.as_ref() }
    }
}

/// A context of this thread: its id and scope, and an HTTP stream's object (which
/// answers and timers reach its filter through).
struct Context {
    id: u32,
    /// In a box of its own: the host's current scope may point to it (after
    /// `proxy_set_effective_context`) while the list grows.
    scope: Box<Scope>,
    stream: Option<Rc<dyn HoldsBound>>,
}

/// A callout's answer, while its handler runs.
struct Answer {
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    failure: Option<String>,
}

/// One Envoy thread's host.
pub(crate) struct NativeHost {
    /// The scope host calls act on (null: none), one word so that a hook enters and leaves
    /// its own cheaply. It points to a scope that outlives its being current: one whose
    /// [`enter`](Self::enter) guard is alive (the guard borrows it, and sets the scope
    /// before back when dropped, even by a panic), or a listed context's boxed one, after
    /// `proxy_set_effective_context`. A pointer to a listed context's scope is marked (its
    /// lowest bit set: a `Scope` is aligned to eight), and is never made current again
    /// without checking the context is still listed ([`restore`](Self::restore)): a
    /// context removed meanwhile frees its box, and a context removed while current stops
    /// being current.
    scope: Cell<*const Scope>,
    /// Contexts `proxy_set_effective_context` may switch to: plugin contexts,
    /// connections, and the streams kept findable.
    contexts: RefCell<Vec<Context>>,
    /// How many streams `contexts` holds.
    kept: Cell<usize>,
    /// The callout whose answer is being delivered.
    answer: RefCell<Option<Answer>>,
    /// Callouts in flight: Envoy's stream and id for each, and the SDK's token.
    callouts: RefCell<Vec<(FilterEnvoyPtr, u64, u32)>>,
    next_token: Cell<u32>,
    /// The plugin contexts' ticks (for streams' timers).
    pub(super) ticks: Ticks,
    /// Metrics of labelled families, one per combination of label values this thread
    /// used: the family (an index into its configuration's metrics) and the values. Their
    /// ids are [`LABELLED`] plus the index here.
    labelled: RefCell<Vec<Labelled>>,
    /// How many connection hooks are running (nested ones count): what a network filter
    /// asks of a connection meanwhile waits in `deferred` until the outermost returns.
    hook_depth: Cell<u32>,
    deferred: RefCell<Vec<(NetworkFilterEnvoyPtr, connection::Deferred)>>,
    /// Unary gRPC calls in flight, over Envoy's HTTP streams of a stream.
    grpc_calls: RefCell<Vec<grpc::GrpcCall>>,
    /// Services' timers (main thread): the configuration's id, Envoy's timer, the period
    /// in milliseconds (0: stopped).
    service_timers: RefCell<Vec<(u64, BootstrapTimerPtr, u32)>>,
}

/// A scope entered ([`NativeHost::enter`]): dropped, the scope before is current again.
pub(super) struct Entered<'a> {
    host: &'a NativeHost,
    outer: *const Scope,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.host.restore(self.outer);
    }
}

/// One metric of a labelled family: its configuration, the family (an index into the
/// configuration's metrics) and the label values.
type Labelled = (&'static PluginConfig, usize, Vec<Vec<u8>>);

/// The mark of a current-scope pointer to a listed context's scope (see `NativeHost::scope`).
const LISTED: usize = 1;
const _: () = assert!(std::mem::align_of::<Scope>() > LISTED);

/// The first id of a labelled family's metric (ids below are the configuration's metrics).
const LABELLED: u32 = 1 << 30;

impl NativeHost {
    pub(super) fn new() -> NativeHost {
        NativeHost {
            scope: Cell::new(std::ptr::null()),
            contexts: RefCell::new(Vec::new()),
            kept: Cell::new(0),
            answer: RefCell::new(None),
            callouts: RefCell::new(Vec::new()),
            next_token: Cell::new(1),
            ticks: Ticks::new(),
            labelled: RefCell::new(Vec::new()),
            hook_depth: Cell::new(0),
            deferred: RefCell::new(Vec::new()),
            grpc_calls: RefCell::new(Vec::new()),
            service_timers: RefCell::new(Vec::new()),
        }
    }

    /// Acts on `scope` until the guard drops, which makes the scope before current again.
    pub(super) fn enter<'a>(&'a self, scope: &'a Scope) -> Entered<'a> {
        Entered {
            host: self,
            outer: self.scope.replace(scope),
        }
    }

    /// The scope host calls act on now.
    fn current(&self) -> Scope {
        let scope = self.scope.get().map_addr(|address| address & !LISTED);
        // SAFETY: the current scope outlives its being current (see the field), and only a
        // copy is taken.
        unsafe { scope.as_ref() }.copied().unwrap_or(Scope::NONE)
    }

    /// Makes listed context `context`'s scope current (marked: see the field).
    fn switch_to_listed(&self, context: &Context) {
        let scope: *const Scope = &*context.scope;
        self.scope.set(scope.map_addr(|address| address | LISTED));
    }

    /// Makes `outer` current again: a scope that was current before. A listed context's
    /// (marked) only if the context is still listed, else none.
    fn restore(&self, outer: *const Scope) {
        if outer.addr() & LISTED == 0 {
            self.scope.set(outer);
            return;
        }
        let unmarked = outer.map_addr(|address| address & !LISTED);
        let listed = self.contexts.try_borrow().is_ok_and(|contexts| {
            (contexts.iter()).any(|context| std::ptr::eq(&*context.scope, unmarked))
        });
        self.scope
            .set(if listed { outer } else { std::ptr::null() });
    }

    pub(super) fn add_root(&self, context_id: u32, plugin: &'static PluginConfig) {
        self.add_context(context_id, Scope::plugin(plugin), None);
    }

    /// Context `context_id` (a stream or connection) has `scope`; an HTTP stream's object
    /// is `stream`.
    pub(super) fn add_context(
        &self,
        context_id: u32,
        scope: Scope,
        stream: Option<Rc<dyn HoldsBound>>,
    ) {
        self.contexts.borrow_mut().push(Context {
            id: context_id,
            scope: Box::new(scope),
            stream,
        });
    }

    /// HTTP stream `context_id`'s object, if it is one of this thread's: the stream whose
    /// code is running, or one kept findable ([`keep_stream`](Self::keep_stream)).
    pub(super) fn stream(&self, context_id: u32) -> Option<Rc<dyn HoldsBound>> {
        if let Some(running) = self.running_stream(context_id) {
            return Some(running);
        }
        if self.kept.get() == 0 {
            return None;
        }
        self.contexts
            .borrow()
            .iter()
            .find(|context| context.id == context_id)?
            .stream
            .clone()
    }

    /// The context id of the stream the current scope is (0: none).
    pub(super) fn running_stream_id(&self) -> u32 {
        let scope = self.current();
        scope.stream_object().map_or(0, HoldsBound::context_id)
    }

    /// The object of stream `context_id` if the current scope is that stream's.
    fn running_stream(&self, context_id: u32) -> Option<Rc<dyn HoldsBound>> {
        let scope = self.current();
        let stream = scope.stream?;
        if scope.stream_object()?.context_id() != context_id {
            return None;
        }
        // SAFETY: a stream's object is an `Rc` (made by `filter_new`, which hands Envoy
        // `Rc::into_raw`), alive while its scope is set; the count taken here is the new
        // `Rc`'s own.
        unsafe {
            Rc::increment_strong_count(stream.as_ptr());
            Some(Rc::from_raw(stream.as_ptr()))
        }
    }

    /// Keeps the running stream `context_id` findable by id until its `destroy` (it made a
    /// call or set a timer, whose answer finds it so); a no-op if the current scope is not
    /// that stream's, or it is kept already.
    pub(super) fn keep_stream(&self, context_id: u32) {
        let Some(stream) = self.running_stream(context_id) else {
            return;
        };
        let mut contexts = self.contexts.borrow_mut();
        if contexts.iter().any(|context| context.id == context_id) {
            return;
        }
        contexts.push(Context {
            id: context_id,
            scope: Box::new(self.current()),
            stream: Some(stream),
        });
        self.kept.set(self.kept.get() + 1);
    }

    /// Whether this thread keeps anything of a stream until it ends: a stream kept
    /// findable, a tick's carrier, a callout or gRPC call in flight. When it keeps nothing,
    /// a stream's end has nothing to forget here ([`stream_gone`](Self::stream_gone),
    /// [`forget_callouts`](Self::forget_callouts), [`forget_grpc`](Self::forget_grpc)).
    #[inline(always)]
    pub(super) fn holds_streams(&self) -> bool {
        self.kept.get() > 0
            || self.ticks.carried()
            || self
                .callouts
                .try_borrow()
                .map_or(true, |calls| !calls.is_empty())
            || self
                .grpc_calls
                .try_borrow()
                .map_or(true, |calls| !calls.is_empty())
    }

    /// Stream `context_id` ended: it is findable no more, and carries no tick.
    pub(super) fn stream_gone(&self, context_id: u32, filter: FilterEnvoyPtr) {
        if self.kept.get() > 0 {
            self.remove_context(context_id);
        }
        self.ticks.stream_gone(filter);
    }

    pub(super) fn remove_context(&self, context_id: u32) {
        let mut contexts = self.contexts.borrow_mut();
        if let Some(at) = contexts.iter().position(|context| context.id == context_id) {
            let Context { scope, stream, .. } = contexts.swap_remove(at);
            drop(contexts);
            // A removed context is current no more.
            let current = self.scope.get().map_addr(|address| address & !LISTED);
            if std::ptr::eq(current, &*scope) {
                self.scope.set(std::ptr::null());
            }
            if stream.is_some() {
                self.kept.set(self.kept.get() - 1);
            }
            // Released after the list: the `destroy` hook holds the stream's object still,
            // and drops it (its filter's `Drop` is user code) with the plugin in scope.
            drop(stream);
            if scope.filter.is_null() {
                self.ticks.root_gone(context_id);
            } else {
                self.ticks.stream_gone(scope.filter);
            }
        }
    }

    /// The plugin context `scope` belongs to.
    fn root_of(&self, scope: Scope) -> Option<u32> {
        self.contexts
            .borrow()
            .iter()
            .find(|root| {
                root.scope.filter.is_null() && std::ptr::eq(root.scope.plugin, scope.plugin)
            })
            .map(|root| root.id)
    }

    /// The configuration of plugin context `root`.
    pub(super) fn plugin_of(&self, root: u32) -> Option<&'static PluginConfig> {
        self.contexts
            .borrow()
            .iter()
            .find(|context| context.id == root && context.scope.filter.is_null())
            .and_then(|context| context.scope.plugin_config())
    }

    /// The SDK's token of Envoy's callout `id` from stream `filter`, forgotten here.
    pub(super) fn take_callout(&self, filter: FilterEnvoyPtr, id: u64) -> Option<u32> {
        let mut callouts = self.callouts.borrow_mut();
        let at = callouts
            .iter()
            .position(|(stream, envoy_id, _)| *stream == filter && *envoy_id == id)?;
        Some(callouts.swap_remove(at).2)
    }

    /// Forgets the callouts of stream `filter` (Envoy cancels them with the stream).
    pub(super) fn forget_callouts(&self, filter: FilterEnvoyPtr) {
        self.callouts
            .borrow_mut()
            .retain(|(stream, _, _)| *stream != filter);
    }

    /// Holds a callout's answer for the handler that reads it.
    pub(super) fn set_answer(
        &self,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Vec<u8>,
        failure: Option<String>,
    ) {
        *self.answer.borrow_mut() = Some(Answer {
            headers,
            body,
            failure,
        });
    }

    pub(super) fn clear_answer(&self) {
        self.answer.borrow_mut().take();
    }

    /// Logs `message` as the plugin of `scope` would.
    pub(super) fn log_for(&self, scope: Scope, level: LogLevel, message: &str) {
        let _entered = self.enter(&scope);
        self.write_log(level as u32, message.as_bytes());
    }

    /// The current stream's HTTP filter (none for a connection).
    fn filter(&self) -> Option<FilterEnvoyPtr> {
        let scope = self.current();
        Some(scope.filter).filter(|filter| !filter.is_null() && scope.stream.is_some())
    }

    /// The current connection's network filter (none for a stream).
    fn connection(&self) -> Option<NetworkFilterEnvoyPtr> {
        let scope = self.current();
        Some(scope.filter).filter(|filter| !filter.is_null() && scope.stream.is_none())
    }

    fn plugin(&self) -> Option<&'static PluginConfig> {
        self.current().plugin_config()
    }

    /// The current plugin if it is a service (a bootstrap extension's: its timers,
    /// callouts, queues and metrics are the extension's, not a stream's).
    fn service(&self) -> Option<&'static PluginConfig> {
        self.plugin().filter(|p| p.kind == Kind::Service)
    }
}

/// Decoded pairs, owned; `None` when malformed.
fn owned_pairs(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    pairs::decode(bytes).ok().map(|list| {
        list.into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    })
}

/// The wall clock, in nanoseconds since the epoch.
pub(super) fn now_nanos() -> u64 {
    let since = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::dynamic_module::tests::plugin;
    use crate::runtime::state::Bound;

    /// A stream's object, as the host sees it.
    struct Object(u32);

    impl HoldsBound for Object {
        fn context_id(&self) -> u32 {
            self.0
        }
        fn bound(&self) -> Option<&Bound> {
            None
        }
    }

    fn switch_to(host: &NativeHost, context_id: u32) -> u32 {
        host.proxy_set_effective_context(proxy_set_effective_context::Args {
            context_id,
            _call: std::marker::PhantomData,
        })
    }

    /// Acting on another context for one call comes back to the scope before, the running
    /// stream's own (which has no id to switch back by once it is left: it is not kept).
    #[test]
    fn acting_on_another_stream_comes_back_to_the_running_one() {
        let host = NativeHost::new();
        let (seven, eight) = (Rc::new(Object(7)), Rc::new(Object(8)));
        let scope = |object: &Object| Scope::stream(std::ptr::null_mut(), plugin(), object);
        let (scope_seven, scope_eight) = (scope(&seven), scope(&eight));
        {
            let _entered = host.enter(&scope_seven);
            host.keep_stream(7);
        }
        let entered = host.enter(&scope_eight);
        let mut seen = 0;
        let status = host.on_context(7, &mut || seen = host.running_stream_id());
        assert_eq!((status, seen), (Some(OK), 7));
        assert_eq!(host.running_stream_id(), 8, "back on the running stream");
        let status = host.on_context(9, &mut || seen = 0);
        assert_eq!(
            (status, seen),
            (Some(BAD_ARGUMENT), 7),
            "no such context: not run"
        );
        assert_eq!(host.running_stream_id(), 8);
        drop(entered);
        assert_eq!(host.running_stream_id(), 0);
        host.stream_gone(7, std::ptr::null_mut());
    }

    /// A listed context's scope that was current before a call is current again after it
    /// only if the context is still listed: one that ended meanwhile is current no more
    /// (its scope is freed with it).
    #[test]
    fn a_context_that_ended_meanwhile_is_not_made_current_again() {
        let host = NativeHost::new();
        let seven = Rc::new(Object(7));
        let scope_seven = Scope::stream(std::ptr::null_mut(), plugin(), &*seven);
        {
            let _entered = host.enter(&scope_seven);
            host.keep_stream(7);
        }
        let none = Scope::NONE;
        let _entered = host.enter(&none);
        assert_eq!(switch_to(&host, 7), OK);
        let mut seen = 0;
        let status = host.on_context(7, &mut || {
            seen = host.running_stream_id();
            host.stream_gone(7, std::ptr::null_mut());
        });
        assert_eq!((status, seen), (Some(OK), 7));
        assert_eq!(
            host.running_stream_id(),
            0,
            "ended during the call: not current"
        );
        assert_eq!(switch_to(&host, 7), BAD_ARGUMENT);

        host.keep_stream(7); // not running: nothing kept
        let eight = Rc::new(Object(8));
        let scope_eight = Scope::stream(std::ptr::null_mut(), plugin(), &*eight);
        {
            let _entered = host.enter(&scope_eight);
            host.keep_stream(8);
        }
        assert_eq!(switch_to(&host, 8), OK);
        {
            let inner = Scope::NONE;
            let _entered = host.enter(&inner);
            host.stream_gone(8, std::ptr::null_mut());
        }
        assert_eq!(
            host.running_stream_id(),
            0,
            "a guard does not bring it back either"
        );
    }

    /// A stream is found by id while its hook runs; once its hook returned, only if it was
    /// kept (it made a call or set a timer), until it ends.
    #[test]
    fn a_stream_is_found_while_its_hook_runs_and_after_only_if_kept() {
        let host = NativeHost::new();
        let (seven, eight) = (Rc::new(Object(7)), Rc::new(Object(8)));
        let scope = |object: &Object| Scope::stream(std::ptr::null_mut(), plugin(), object);
        let (scope_seven, scope_eight) = (scope(&seven), scope(&eight));

        {
            let _entered = host.enter(&scope_eight);
            assert_eq!(host.running_stream_id(), 8);
            assert!(host.stream(8).is_some() && host.stream(7).is_none());
        }
        assert_eq!(host.running_stream_id(), 0);
        assert!(host.stream(8).is_none(), "not kept: gone with its hook");
        assert_eq!(switch_to(&host, 8), BAD_ARGUMENT);

        {
            let _entered = host.enter(&scope_seven);
            host.keep_stream(7);
            host.keep_stream(7);
            host.keep_stream(8); // not the running stream: nothing to keep
        }
        assert_eq!(Rc::strong_count(&seven), 2, "kept once, by the registry");
        assert!(host.stream(7).is_some() && host.stream(8).is_none());
        {
            let none = Scope::NONE;
            let _entered = host.enter(&none);
            assert_eq!(switch_to(&host, 7), OK);
            assert_eq!(host.running_stream_id(), 7);
            host.stream_gone(7, std::ptr::null_mut());
            assert_eq!(
                host.running_stream_id(),
                0,
                "an ended context is current no more"
            );
        }
        assert!(host.stream(7).is_none());
        assert_eq!(Rc::strong_count(&seven), 1, "released at its end");
        assert_eq!(Rc::strong_count(&eight), 1);
    }

    /// A scope is a stream's if it names the stream's object, a connection's if it has a
    /// filter and no object: host calls for the one do not reach the other's filter.
    #[test]
    fn a_scope_is_a_streams_or_a_connections() {
        let host = NativeHost::new();
        let envoy = std::ptr::NonNull::<u8>::dangling().as_ptr().cast();
        let object = Rc::new(Object(3));
        let stream = Scope::stream(envoy, plugin(), &*object);
        let entered = host.enter(&stream);
        assert!(host.filter().is_some() && host.connection().is_none());
        let connection = Scope::connection(envoy, plugin());
        let inner = host.enter(&connection);
        assert!(host.filter().is_none() && host.connection().is_some());
        let plugin_scope = Scope::plugin(plugin());
        let innermost = host.enter(&plugin_scope);
        assert!(host.filter().is_none() && host.connection().is_none());
        drop((innermost, inner));
        assert!(host.filter().is_some(), "the stream's again");
        drop(entered);
        assert!(host.filter().is_none() && host.connection().is_none());
    }
}
