//! The proxy-wasm host functions, answered with Envoy's dynamic-module callbacks: one
//! [`NativeHost`] per Envoy thread, installed as that thread's
//! [`imports::Host`](crate::abi::imports::Host).
//!
//! A call acts on the stream whose hook is running (or that `proxy_set_effective_context`
//! chose), and on the plugin configuration it belongs to: the host's [`Scope`].

use super::ticks::Ticks;
use super::{Kind, Metric, PluginConfig};
use crate::abi::dynamic_module::{
    self as dm, BootstrapTimerPtr, EnvoyBuffer, EnvoyHeader, FilterEnvoyPtr, ModuleBuffer,
    ModuleHeader, NetworkFilterEnvoyPtr, body, callbacks, header_map,
};
use crate::abi::imports::*;
use crate::abi::{BufferType, LogLevel, MapType, MetricType, Status, StreamType, pairs};
use crate::runtime::state::HoldsBound;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
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
/// configuration.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scope {
    /// Envoy's HTTP filter of the stream, or its network filter of the connection.
    pub(super) filter: FilterEnvoyPtr,
    pub(super) plugin: *const PluginConfig,
    /// When the stream's filter was made (none for a plugin or a connection); turned into
    /// nanoseconds since the epoch only when `request.time` is read.
    pub(super) started: Option<SystemTime>,
    /// `filter` is a network filter's (a connection), not an HTTP stream's.
    pub(super) network: bool,
}

impl Scope {
    const NONE: Scope = Scope {
        filter: std::ptr::null_mut(),
        plugin: std::ptr::null(),
        started: None,
        network: false,
    };

    /// The plugin context of `plugin`, with no stream.
    pub(super) fn plugin(plugin: &'static PluginConfig) -> Scope {
        Scope {
            filter: std::ptr::null_mut(),
            plugin,
            started: None,
            network: false,
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
            started: None,
            network: true,
        }
    }

    /// A stream of `plugin`, whose filter was made at `started`.
    pub(super) fn stream(
        filter: FilterEnvoyPtr,
        plugin: &'static PluginConfig,
        started: SystemTime,
    ) -> Scope {
        Scope {
            filter,
            plugin,
            started: Some(started),
            network: false,
        }
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
    scope: Scope,
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
    scope: Cell<Scope>,
    /// Contexts `proxy_set_effective_context` may switch to.
    contexts: RefCell<Vec<Context>>,
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

/// One metric of a labelled family: its configuration, the family (an index into the
/// configuration's metrics) and the label values.
type Labelled = (&'static PluginConfig, usize, Vec<Vec<u8>>);

/// The first id of a labelled family's metric (ids below are the configuration's metrics).
const LABELLED: u32 = 1 << 30;

impl NativeHost {
    pub(super) fn new() -> NativeHost {
        NativeHost {
            scope: Cell::new(Scope::NONE),
            contexts: RefCell::new(Vec::new()),
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

    /// Acts on `scope` until [`leave`](Self::leave); returns the scope to go back to.
    pub(super) fn enter(&self, scope: Scope) -> Scope {
        self.scope.replace(scope)
    }

    pub(super) fn leave(&self, outer: Scope) {
        self.scope.set(outer);
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
            scope,
            stream,
        });
    }

    /// HTTP stream `context_id`'s object, if it is one of this thread's.
    pub(super) fn stream(&self, context_id: u32) -> Option<Rc<dyn HoldsBound>> {
        self.contexts
            .borrow()
            .iter()
            .find(|context| context.id == context_id)?
            .stream
            .clone()
    }

    pub(super) fn remove_context(&self, context_id: u32) {
        let mut contexts = self.contexts.borrow_mut();
        if let Some(at) = contexts.iter().position(|context| context.id == context_id) {
            let Context { scope, stream, .. } = contexts.swap_remove(at);
            drop(contexts);
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
        let outer = self.enter(scope);
        self.write_log(level as u32, message.as_bytes());
        self.leave(outer);
    }

    /// The current stream's HTTP filter (none for a connection).
    fn filter(&self) -> Option<FilterEnvoyPtr> {
        let scope = self.scope.get();
        Some(scope.filter).filter(|filter| !filter.is_null() && !scope.network)
    }

    /// The current connection's network filter (none for a stream).
    fn connection(&self) -> Option<NetworkFilterEnvoyPtr> {
        let scope = self.scope.get();
        Some(scope.filter).filter(|filter| !filter.is_null() && scope.network)
    }

    fn plugin(&self) -> Option<&'static PluginConfig> {
        self.scope.get().plugin_config()
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
    nanos(SystemTime::now())
}

/// `time` in nanoseconds since the epoch.
fn nanos(time: SystemTime) -> u64 {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}
