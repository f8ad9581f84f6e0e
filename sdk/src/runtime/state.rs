//! The dispatcher's state: this VM's plugin contexts, the streams and connections Envoy
//! created under each of them, and the calls in flight. One per VM (per thread off wasm);
//! the other runtime files read and change it, and none of them keeps state of its own.
//!
//! Every stream and connection is bound to the plugin context Envoy created it under (the
//! parent of `proxy_on_context_create`), so several plugins of one module in one VM (two
//! Istio `WasmPlugin`s from one image, an HTTP and a network plugin) each serve their own.
//! The bindings are in the dispatcher's list, except the native target's HTTP streams':
//! each of those is in the stream's own object ([`Bound`]), found by id through the
//! thread's [`Elsewhere`].

use crate::callout::{Answer, CallKind};
use crate::grpc::GrpcEvent;
use crate::runtime::contexts::{Binding, NewRoot, RootContext};
use std::cell::RefCell;
use std::rc::Rc;

/// A stream's binding kept outside the dispatcher's list, with the plugin context it is
/// bound to: the native target keeps each HTTP stream's binding in the object Envoy hands
/// back at every hook, so a hook reaches the filter without a lookup. Answers and timers
/// reach it by id through the thread's [`Elsewhere`].
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) struct Bound {
    pub(crate) binding: RefCell<Binding>,
    /// The plugin context it is bound to (kept alive by it).
    root: Rc<dyn RootContext>,
    /// The plugin context `root` holds, found once: a phase reaches it with no arithmetic
    /// on the `Rc` (whose value's place depends on its type's alignment).
    context: std::ptr::NonNull<dyn RootContext>,
}

#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
impl Bound {
    /// `binding`, to the plugin context `root`.
    pub(crate) fn new(binding: Binding, root: Rc<dyn RootContext>) -> Bound {
        let context = std::ptr::NonNull::from(&*root);
        Bound {
            binding: RefCell::new(binding),
            root,
            context,
        }
    }

    /// The plugin context it is bound to.
    #[inline(always)]
    pub(crate) fn root(&self) -> &dyn RootContext {
        // SAFETY: `context` points into the `Rc` that `root` keeps alive as long as `self`
        // (a private field, set only by `new`), and only shared
        // references to it are made.
        unsafe { self.context.as_ref() }
    }

    /// The plugin context it is bound to, shared.
    pub(crate) fn shared_root(&self) -> &Rc<dyn RootContext> {
        &self.root
    }

    /// Whether it holds no filter of its own: dropping it then runs no user code, as long as
    /// its plugin context is held elsewhere too.
    pub(crate) fn holds_no_filter(&self) -> bool {
        self.binding.try_borrow().is_ok_and(|binding| {
            !matches!(
                binding.slot,
                super::contexts::Slot::Stream(_) | super::contexts::Slot::Connection(_)
            )
        })
    }
}

/// What holds a [`Bound`] stream (the native target's stream object).
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) trait HoldsBound {
    /// The stream's context id.
    fn context_id(&self) -> u32;
    /// The stream's binding; `None` if it has none (its plugin context is not there).
    fn bound(&self) -> Option<&Bound>;
}

/// How a thread reaches the streams bound outside the dispatcher's list.
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
#[derive(Clone, Copy)]
pub(crate) struct Elsewhere {
    /// Finds one by its context id: the stream whose code is running, or one kept.
    pub(crate) find: fn(u32) -> Option<Rc<dyn HoldsBound>>,
    /// Keeps the running stream with this id findable after its hook returns: it made a
    /// call or set a timer, whose answer reaches it by id.
    pub(crate) keep: fn(u32),
    /// The context id of the stream whose code is running on this thread (0: none).
    pub(crate) running: fn() -> u32,
}

/// A call waiting for its answer (every event, for a gRPC stream).
pub(crate) struct Pending {
    pub(crate) kind: CallKind,
    /// The host's token for it (the SDK's, for a stream's timer).
    pub(crate) token: u32,
    /// The stream or plugin context that made it, whose filter or plugin its handler
    /// runs with.
    pub(crate) owner: u32,
    /// The largest answer it takes (bytes).
    pub(crate) limit: usize,
    /// Its handler; `None` while it runs.
    pub(crate) answer: Option<Answer>,
}

/// A plugin context.
pub(crate) struct RootEntry {
    pub(crate) context_id: u32,
    pub(crate) root: Rc<dyn RootContext>,
}

pub(crate) struct Dispatcher {
    pub(crate) new_root: Option<NewRoot>,
    /// Other plugins of the module, by the `root_id` they run under.
    pub(crate) other_roots: Vec<(&'static str, NewRoot)>,
    /// Plugin contexts: a handful per VM, so a list is enough (and smaller than a map).
    pub(crate) roots: Vec<RootEntry>,
    /// Live streams and connections (natively, connections only: see [`Bound`]). A list: a worker has a few dozen at most, and a list
    /// that keeps its capacity allocates nothing per context, unlike a tree.
    pub(crate) contexts: Vec<Binding>,
    /// Calls waiting for their answers (see [`calls`](super::calls)): this VM's, a few
    /// per live stream at most, so a list.
    pub(crate) calls: Vec<Pending>,
    /// Readers of callout responses, installed by the first call of each kind, so that a
    /// module that never calls out carries none of the code that reads responses.
    pub(crate) http_deliver: Option<fn(u32, usize, usize)>,
    pub(crate) grpc_deliver: Option<fn(u32, GrpcEvent)>,
    /// Streams' timers (`after`): plugin context, deadline, token.
    pub(crate) stream_timers: Vec<(u32, u64, u32)>,
    /// Runs a plugin's due stream timers on its tick; installed by the first stream timer,
    /// so a module without any links none of it.
    pub(crate) stream_tick: Option<fn(u32)>,
    /// Plugin contexts told they run as the wrong kind of filter (said once each).
    pub(crate) told: Vec<u32>,
}

impl Dispatcher {
    pub(crate) const fn new() -> Self {
        Dispatcher {
            new_root: None,
            other_roots: Vec::new(),
            roots: Vec::new(),
            contexts: Vec::new(),
            calls: Vec::new(),
            http_deliver: None,
            grpc_deliver: None,
            stream_timers: Vec::new(),
            stream_tick: None,
            told: Vec::new(),
        }
    }

    /// The binding of stream or connection `context_id`.
    pub(crate) fn binding(&mut self, context_id: u32) -> Option<&mut Binding> {
        self.contexts
            .iter_mut()
            .find(|binding| binding.context_id == context_id)
    }

    /// Plugin context `context_id`.
    pub(crate) fn root(&self, context_id: u32) -> Option<Rc<dyn RootContext>> {
        self.roots
            .iter()
            .find(|entry| entry.context_id == context_id)
            .map(|entry| entry.root.clone())
    }
}

thread_local! {
    // Built at compile time: no lazy initialisation to check on each callback.
    pub(crate) static DISPATCHER: RefCell<Dispatcher> = const { RefCell::new(Dispatcher::new()) };
}

/// Runs `f` on this VM's dispatcher state.
pub(crate) fn with<R>(f: impl FnOnce(&mut Dispatcher) -> R) -> R {
    DISPATCHER.with(|d| f(&mut d.borrow_mut()))
}

/// Plugin context `context_id`, if this VM has it.
pub(crate) fn root(context_id: u32) -> Option<Rc<dyn RootContext>> {
    DISPATCHER.with(|d| d.borrow().root(context_id))
}

#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
thread_local! {
    /// How this thread finds the streams bound outside the dispatcher's list: apart from
    /// the dispatcher, which registering a plugin resets.
    static ELSEWHERE: std::cell::Cell<Option<Elsewhere>> = const { std::cell::Cell::new(None) };
}

/// Streams bound outside the dispatcher's list are reached through `elsewhere` on this thread.
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) fn find_elsewhere_with(elsewhere: Elsewhere) {
    ELSEWHERE.with(|slot| slot.set(Some(elsewhere)));
}

/// The stream bound elsewhere with id `context_id` (see [`Bound`]).
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) fn elsewhere(context_id: u32) -> Option<Rc<dyn HoldsBound>> {
    let elsewhere = ELSEWHERE.try_with(std::cell::Cell::get).ok()??;
    (elsewhere.find)(context_id)
}

/// The stream bound elsewhere whose code is running on this thread (0: none): its log
/// lines carry its request id.
pub(crate) fn running_elsewhere() -> u32 {
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    if let Ok(Some(elsewhere)) = ELSEWHERE.try_with(std::cell::Cell::get) {
        return (elsewhere.running)();
    }
    0
}

/// Context `context_id` made a call or set a timer: if it is a stream bound elsewhere,
/// its answer finds it by id (see [`Elsewhere::keep`]).
pub(crate) fn keep_findable(context_id: u32) {
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    if let Ok(Some(elsewhere)) = ELSEWHERE.try_with(std::cell::Cell::get) {
        (elsewhere.keep)(context_id);
    }
    let _ = context_id;
}

/// The request id for stream `context_id`'s log lines: read at its first line, once.
pub(crate) fn request_id(context_id: u32) -> Option<Box<str>> {
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    if let Some(stream) = elsewhere(context_id) {
        return stream.bound()?.binding.try_borrow_mut().ok()?.request_id();
    }
    DISPATCHER
        .try_with(|d| d.try_borrow_mut().ok()?.binding(context_id)?.request_id())
        .ok()
        .flatten()
}

#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
thread_local! {
    static REFUSED_CONFIG: std::cell::RefCell<Option<crate::config::ConfigError>> = const { std::cell::RefCell::new(None) };
}

/// Keeps why a configuration was refused (for the emulator's `ConfigureFailed`).
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) fn keep_refused_config(error: crate::config::ConfigError) {
    REFUSED_CONFIG.with(|slot| *slot.borrow_mut() = Some(error));
}

/// Why the last configuration was refused, if it was (for the emulator's `ConfigureFailed`).
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) fn take_refused_config() -> Option<crate::config::ConfigError> {
    REFUSED_CONFIG.with(|slot| slot.borrow_mut().take())
}
