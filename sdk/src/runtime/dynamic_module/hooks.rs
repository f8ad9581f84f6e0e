//! Envoy's dynamic-module event hooks for an HTTP filter, each running the stream's filter
//! on the calling thread ([`Worker`]) from the stream's own binding ([`Stream`]).
//!
//! Envoy requires every hook below of an HTTP filter module; those for features the SDK
//! does not map (watermarks) do nothing. The answers to what a stream started (callouts,
//! gRPC calls) arrive in [`answers`](super::answers).

use super::host::Scope;
use super::{
    Kind, PluginConfig, WORKER, Worker, callback, config_destroy, config_new, config_of, skips,
};
use crate::abi::dynamic_module::stream::HttpStream;
use crate::abi::dynamic_module::{
    EnvoyBuffer, FilterConfigEnvoyPtr, FilterConfigModulePtr, FilterEnvoyPtr, FilterModulePtr,
    ModuleBuffer, callbacks, status,
};
use crate::abi::{Action, Via};
use crate::runtime::access::guarded;
use crate::runtime::contexts::{Binding, Phase};
use crate::runtime::exports::root;
use crate::runtime::state::{Bound, Elsewhere, HoldsBound};
use crate::runtime::{calls, dispatch};
use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;

/// The module's object for one stream: what Envoy hands back at each of its hooks, and
/// what answers and timers reach it by (its context id, through this thread's host).
pub(super) struct Stream {
    /// The thread's runtime, which its hooks run on (reached without a thread-local
    /// lookup); `None` for a stream that could not be set up, and for a spare object.
    worker: Option<Rc<Worker>>,
    pub(super) context_id: u32,
    pub(super) plugin: &'static PluginConfig,
    /// What its host calls act on: Envoy's object for the stream, its configuration, and
    /// this object (in its `Rc`, which does not move). A hook enters it by reference.
    pub(super) scope: Scope,
    /// Its binding to this thread's plugin context of the configuration, holding its
    /// filter: `None` if that context is not there (configuring it failed).
    bound: Option<Bound>,
    /// Whether the stream was answered for a failed module already.
    pub(super) answered: Cell<bool>,
    /// How many hooks running the filter's code hold the object (see
    /// [`hold`](Stream::hold)), and [`ENDED`] once Envoy ended the stream while one did:
    /// its object is not to be called any more, and the last hold finishes the end.
    holds: Cell<u32>,
}

/// The mark in [`Stream::holds`] of a stream Envoy ended while a hook held it.
const ENDED: u32 = 1 << 31;

impl Stream {
    /// A new stream's object for Envoy's `filter` of `plugin`, its scope naming it.
    fn new(
        worker: Option<Rc<Worker>>,
        context_id: u32,
        plugin: &'static PluginConfig,
        filter: FilterEnvoyPtr,
        bound: Option<Bound>,
    ) -> Rc<Stream> {
        Rc::new_cyclic(|object: &std::rc::Weak<Stream>| {
            // The place the object is made in: the `Rc`'s, for as long as it lives (never
            // null: `Weak::as_ptr` of an `Rc` being made points into its allocation).
            let place = NonNull::new(object.as_ptr().cast_mut())
                .unwrap_or_else(NonNull::<Stream>::dangling);
            Stream {
                worker,
                context_id,
                plugin,
                scope: Scope::stream_at(filter, plugin, place),
                bound,
                answered: Cell::new(false),
                holds: Cell::new(0),
            }
        })
    }

    /// Envoy's object for the stream.
    pub(super) fn filter(&self) -> FilterEnvoyPtr {
        self.scope.filter
    }

    /// Holds the object while a hook runs the filter's code, until
    /// [`let_go_hold`](Stream::let_go_hold). Envoy may end the stream before the hook
    /// returns (a local reply sent from a callout's answer can end it at once, `destroy`
    /// included): `destroy` then does the host's part and leaves the object to the last
    /// hold, so the hook goes on with an object that is still there.
    #[inline(always)]
    pub(super) fn hold(&self) {
        self.holds.set(self.holds.get() + 1);
    }

    /// Whether Envoy ended the stream during a hook: its object for it is not to be called
    /// any more.
    #[inline(always)]
    pub(super) fn ended(&self) -> bool {
        self.holds.get() & ENDED != 0
    }

    /// Ends a [`hold`](Stream::hold); the last one of a stream Envoy ended meanwhile
    /// finishes its end.
    ///
    /// # Safety
    /// `self` is the object behind a pointer `filter_new` returned.
    #[inline(always)]
    pub(super) unsafe fn let_go_hold(&self) {
        let holds = self.holds.get() - 1;
        self.holds.set(holds);
        if holds == ENDED {
            // SAFETY: the caller's contract; `destroy` left Envoy's count to this hold.
            unsafe { finish_ended(self) };
        }
    }
}

/// The end of a stream Envoy ended while a hook held it: the object is let go.
///
/// # Safety
/// `stream` is the object behind a pointer `filter_new` returned, whose `destroy` ran
/// while a hook held it (and left its count).
#[cold]
#[inline(never)]
unsafe fn finish_ended(stream: &Stream) {
    // Done with: an object kept for a next stream starts unheld.
    stream.holds.set(0);
    // SAFETY: the count `destroy` left (see `envoy_dynamic_module_on_http_filter_destroy`).
    release(unsafe { Rc::from_raw(std::ptr::from_ref(stream)) });
}

impl HoldsBound for Stream {
    fn context_id(&self) -> u32 {
        self.context_id
    }

    fn bound(&self) -> Option<&Bound> {
        self.bound.as_ref()
    }
}

/// How many ended streams' objects a thread keeps for its next streams (an object
/// reused is an allocation saved).
pub(super) const SPARE_STREAMS: usize = 256;

impl Worker {
    /// Whether `bound` can be dropped, or kept in a spare object, with no user code run: it
    /// holds no filter of its own, and its plugin context is one this thread holds (not
    /// retired), so that it is never its context's last holder.
    #[inline(always)]
    fn drops_quietly(&self, bound: &Bound) -> bool {
        bound.holds_no_filter()
            && (self.roots.borrow().iter())
                .any(|(_, _, root)| Rc::ptr_eq(root, bound.shared_root()))
    }

    /// A new stream's object, bound to this thread's plugin context of `plugin` (none on a
    /// failed thread, or if configuring it failed): one of the thread's spare objects if it
    /// has one. A spare object bound to the same configuration keeps its binding, bound
    /// anew: no plugin context to look up, no count moved (the spares of a configuration
    /// whose context retired are dropped with it, see `Worker::drop_retired_now`, so a
    /// spare's binding to `plugin` is to its current context here).
    fn stream_object(
        self: &Rc<Self>,
        plugin: &'static PluginConfig,
        filter: FilterEnvoyPtr,
    ) -> Rc<Stream> {
        let context_id = self.next_context_id();
        let failed = self.failed.get();
        if !failed {
            self.drop_retired();
        }
        let spare = self.spare.borrow_mut().pop();
        if let Some(mut object) = spare
            && let Some(slot) = Rc::get_mut(&mut object)
        {
            // A spare object holds no runtime: nothing to drop.
            std::mem::forget(slot.worker.replace(self.clone()));
            let same = !failed && std::ptr::eq(slot.plugin, plugin);
            (slot.context_id, slot.plugin) = (context_id, plugin);
            slot.scope.rebind(filter, plugin);
            slot.answered.set(false);
            match &mut slot.bound {
                Some(bound) if same => bound.binding.get_mut().rebind(context_id),
                // Another configuration's binding: it holds no filter of its own, and its
                // context is held by the thread too (see `Worker::drops_quietly`), so its
                // drop runs no user code.
                bound => *bound = self.bind(plugin, context_id, failed),
            }
            return object;
        }
        let bound = self.bind(plugin, context_id, failed);
        Stream::new(Some(self.clone()), context_id, plugin, filter, bound)
    }

    /// Stream `context_id`'s binding to this thread's plugin context of `plugin`, made
    /// first if needed; `None` on a failed thread, or if configuring it failed.
    fn bind(&self, plugin: &'static PluginConfig, context_id: u32, failed: bool) -> Option<Bound> {
        if failed {
            return None;
        }
        let (root_id, root) = self.plugin_context(plugin)?;
        let log_prefix = root.log_request_id();
        Some(Bound::new(
            Binding::new(context_id, root_id, log_prefix),
            root,
        ))
    }

    /// Keeps an ended stream's object for a next stream, if nothing else holds it and the
    /// thread has room. A spare object holds no runtime (the thread's runtime, which keeps
    /// the spares, is not kept by them), and keeps only a binding whose drop would run no
    /// user code: no filter of its own, its plugin context held by the thread too (the
    /// thread drops its spares when a plugin context retires: `Worker::drop_retired_now`).
    fn spare_stream(&self, mut object: Rc<Stream>) {
        let Some(ended) = Rc::get_mut(&mut object) else {
            return;
        };
        debug_assert!(
            ended
                .bound
                .as_ref()
                .is_none_or(|bound| self.drops_quietly(bound))
        );
        // Not the runtime's last holder: the caller holds it too.
        ended.worker = None;
        self.keep_spare(object);
    }

    /// [`spare_stream`](Self::spare_stream), for an object known to be held by nothing
    /// else, holding no runtime and a binding whose drop runs no user code.
    #[inline(always)]
    fn keep_spare(&self, object: Rc<Stream>) {
        let mut spare = self.spare.borrow_mut();
        let kept = spare.len();
        // Written into the room reserved for the spares at the thread's start: no call to
        // grow the list (which `push` keeps out of line). With `SPARE_STREAMS` kept, or no
        // room left, the object is dropped.
        if kept < SPARE_STREAMS
            && let Some(slot) = spare.spare_capacity_mut().first_mut()
        {
            slot.write(object);
            // SAFETY: the slot at `kept`, within the capacity, was just written.
            unsafe { spare.set_len(kept + 1) };
        }
    }
}

/// The stream behind a module pointer Envoy hands back (`None` for null).
///
/// # Safety
/// `module` must be null, or a pointer `envoy_dynamic_module_on_http_filter_new` returned
/// and `envoy_dynamic_module_on_http_filter_destroy` has not freed.
pub(super) unsafe fn stream_of<'a>(module: FilterModulePtr) -> Option<&'a Stream> {
    // SAFETY: the caller's contract: null or a live `Rc<Stream>` made by `filter_new`.
    unsafe { module.cast::<Stream>().as_ref() }
}

/// How the runtime reaches this thread's streams by id, for their answers, timers and log
/// lines: the stream whose hook is running, or one kept for an answer.
pub(super) const ELSEWHERE: Elsewhere = Elsewhere {
    find: |context_id| {
        WORKER
            .try_with(|worker| worker.host.stream(context_id))
            .ok()?
    },
    keep: |context_id| {
        let _ = WORKER.try_with(|worker| worker.host.keep_stream(context_id));
    },
    running: || {
        WORKER
            .try_with(|worker| worker.host.running_stream_id())
            .unwrap_or(0)
    },
};

/// Runs a hook's body. A panic the runtime's own guard did not catch (a bug in the SDK
/// rather than in the filter) stops here, because unwinding into Envoy would abort it: the
/// thread fails as after a filter's panic, and the hook returns what `fallback` makes.
pub(super) fn barrier<R>(fallback: impl FnOnce() -> R, body: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(_) => {
            let _ = WORKER.try_with(|worker| worker.fail());
            fallback()
        }
    }
}

/// Takes back the box behind a module pointer `filter_new` returned, in `destroy`.
///
/// # Safety
/// `module` is null or a `Box<T>` made by `filter_new`, not taken back before.
pub(super) unsafe fn take_module<T>(module: FilterModulePtr) -> Option<Box<T>> {
    // SAFETY: as the caller promises.
    (!module.is_null()).then(|| unsafe { Box::from_raw(module.cast::<T>().cast_mut()) })
}

/// Runs a hook's body with this thread's worker, behind the [`barrier`].
pub(super) fn on_worker(body: impl FnOnce(&Worker)) {
    barrier(|| (), || WORKER.with(|worker| body(worker)));
}

/// A phase's hook, behind the barrier; `size` is the body's size proxy-wasm reports for it.
/// Inlined into each hook, so that a phase the filter does not implement returns at once.
#[inline(always)]
fn phase_hook(
    module: FilterModulePtr,
    phase: Phase,
    end_of_stream: bool,
    size: impl FnOnce(&Worker) -> usize,
) -> u32 {
    let (bit, name) = callback::of(phase);
    // SAFETY: Envoy passes the pointer `filter_new` returned, until `destroy`.
    let Some(stream) = (unsafe { stream_of(module) }) else {
        return status::CONTINUE;
    };
    // The flag first: one atomic load, and a phase the filter lacks returns.
    if skips(bit) && stream.bound.is_some() {
        return status::CONTINUE;
    }
    run_phase(stream, bit, name, phase, end_of_stream, size)
}

/// [`phase_hook`], for a phase that runs.
#[inline(always)]
fn run_phase(
    stream: &Stream,
    bit: u16,
    name: &str,
    phase: Phase,
    end_of_stream: bool,
    size: impl FnOnce(&Worker) -> usize,
) -> u32 {
    stream.hold();
    let flow = barrier(
        || {
            if stream.answered.get() {
                Flow::Continue
            } else {
                stream.answer_failed()
            }
        },
        || stream.phase(bit, name, phase, end_of_stream, size),
    );
    // SAFETY: Envoy's object for the stream, in one of its hooks (see `phase_hook`).
    unsafe { stream.let_go_hold() };
    match flow {
        Flow::Continue => status::CONTINUE,
        Flow::Stop => status::STOP,
    }
}

/// What a phase's hook tells Envoy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

impl Stream {
    /// Runs `phase` of the filter (when it implements it, flag `bit`), and answers 503 for
    /// a module that failed; `Stop` if the filter paused or answered.
    fn phase(
        &self,
        bit: u16,
        name: &str,
        phase: Phase,
        end_of_stream: bool,
        size: impl FnOnce(&Worker) -> usize,
    ) -> Flow {
        if self.answered.get() {
            return Flow::Continue;
        }
        let (Some(worker), Some(bound)) = (self.worker.as_deref(), self.bound.as_ref()) else {
            return self.answer_failed();
        };
        if worker.failed.get() {
            return self.answer_failed();
        }
        if !worker.implements(bit) {
            return Flow::Continue;
        }
        let size = size(worker);
        // The filter runs straight from the stream's binding, typed by its plugin (no
        // dispatcher, no call through a trait object for a stateless filter); a panic in
        // it is caught here, with the scope set back first.
        let host = &*worker.host;
        let entered = host.enter(&self.scope);
        // SAFETY: Envoy's object of this stream, whose hook is running on this thread; the
        // ops holding it live only for the phase.
        let via = Via::stream(unsafe { HttpStream::new(self.scope.filter) });
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bound
                .root()
                .on_bound_phase(&bound.binding, phase, size, end_of_stream, via)
        }));
        drop(entered);
        // A panic the runtime's own guard caught (and kept) counts too, as `Worker::run`
        // counts it: one in this phase's calls, or one kept since the last hook.
        let kept_panic = || crate::runtime::access::take_guest_panic().is_some();
        if self.ended() {
            // Envoy ended the stream during the phase: its object is not to be called.
            if ran.is_err() || kept_panic() {
                worker.panicked(name, self.scope);
            }
            return Flow::Stop;
        }
        host.ticks.ran_hook(self.scope.filter);
        match ran {
            Ok(_) if kept_panic() => {
                worker.panicked(name, self.scope);
                self.answer_failed()
            }
            Ok(None | Some(Action::Continue)) => Flow::Continue,
            Ok(Some(_)) => Flow::Stop,
            Err(_) => {
                worker.panicked(name, self.scope);
                self.answer_failed()
            }
        }
    }

    /// Runs `body` with the stream's thread runtime, behind the [`barrier`].
    pub(super) fn on_worker(&self, body: impl FnOnce(&Worker)) {
        if let Some(worker) = &self.worker {
            barrier(|| (), || body(worker));
        }
    }

    /// Answers the stream 503 with an empty body, as Envoy answers a failed wasm VM's.
    pub(super) fn answer_failed(&self) -> Flow {
        self.answered.set(true);
        // Envoy ended the stream during a hook: there is nothing to answer.
        if self.ended() {
            return Flow::Stop;
        }
        if let Some(send) = callbacks().http_send_response {
            // SAFETY: Envoy's stream object, in one of its hooks; no headers, empty body.
            unsafe {
                send(
                    self.scope.filter,
                    503,
                    std::ptr::null_mut(),
                    0,
                    ModuleBuffer::of(b""),
                    ModuleBuffer::of(b"dynamic_module_failed"),
                );
            }
        }
        Flow::Stop
    }
}

/// Envoy loads a filter configuration (main thread); null rejects it.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    envoy: FilterConfigEnvoyPtr,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> FilterConfigModulePtr {
    config_new(envoy, name, config, Kind::Http)
}

/// Envoy drops a filter configuration (main thread), after its last stream.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(
    config: FilterConfigModulePtr,
) {
    config_destroy(config);
}

/// A stream starts (worker thread): its plugin context there is made first if needed.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: FilterConfigModulePtr,
    filter: FilterEnvoyPtr,
) -> FilterModulePtr {
    // SAFETY: a pointer `config_new` returned.
    let Some(plugin) = (unsafe { config_of(config) }) else {
        return std::ptr::null();
    };
    // Bound to its configuration's plugin context, as Envoy announces a wasm stream with
    // its root context; its filter is made at its first phase. A stream that could not be
    // set up is answered 503 at its first phase.
    let stream = barrier(
        || Stream::new(None, 0, plugin, filter, None),
        || WORKER.with(|worker| worker.stream_object(plugin, filter)),
    );
    Rc::into_raw(stream).cast()
}

/// A body hook: the request's (`request`) or the response's, with the size proxy-wasm
/// reports (what was buffered and what arrived).
#[inline(always)]
fn body_hook(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    request: bool,
    end_of_stream: bool,
) -> u32 {
    let phase = if request {
        Phase::RequestBody
    } else {
        Phase::ResponseBody
    };
    phase_hook(module, phase, end_of_stream, |worker| {
        worker.host.body_size(filter, request)
    })
}

/// The request's headers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    _filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    phase_hook(module, Phase::RequestHeaders, end_of_stream, |_| 0)
}

/// A piece of the request's body arrived.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    body_hook(filter, module, true, end_of_stream)
}

/// The request's trailers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    _filter: FilterEnvoyPtr,
    module: FilterModulePtr,
) -> u32 {
    phase_hook(module, Phase::RequestTrailers, true, |_| 0)
}

/// The response's headers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    _filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    phase_hook(module, Phase::ResponseHeaders, end_of_stream, |_| 0)
}

/// A piece of the response's body arrived.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    body_hook(filter, module, false, end_of_stream)
}

/// The response's trailers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _filter: FilterEnvoyPtr,
    module: FilterModulePtr,
) -> u32 {
    phase_hook(module, Phase::ResponseTrailers, true, |_| 0)
}

/// The stream is complete (access-log time): the filter's last look.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _filter: FilterEnvoyPtr,
    module: FilterModulePtr,
) {
    // A stream that was not set up has no filter to look: nothing to do either way.
    if skips(callback::LOG) {
        return;
    }
    // SAFETY: Envoy passes the pointer `filter_new` returned, until `destroy`.
    if let Some(stream) = unsafe { stream_of(module) } {
        stream.hold();
        last_look(stream);
        // SAFETY: as above.
        unsafe { stream.let_go_hold() };
    }
}

/// [`envoy_dynamic_module_on_http_filter_stream_complete`], for a module whose filters
/// have a last look (or a thread that failed).
#[inline(never)]
fn last_look(stream: &Stream) {
    let Some(bound) = &stream.bound else {
        return;
    };
    let scope = stream.scope;
    stream.on_worker(|worker| {
        if worker.implements(callback::LOG) {
            worker.run("proxy_on_log", scope, || {
                dispatch::on_bound_log(bound, stream.context_id);
            });
        }
    });
}

/// The stream is gone: its filter is dropped, and what it started is forgotten.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(module: FilterModulePtr) {
    if module.is_null() {
        return;
    }
    // SAFETY: the pointer `filter_new` returned (an `Rc<Stream>`), taken back only here.
    let mut stream = unsafe { Rc::from_raw(module.cast::<Stream>()) };
    if stream.holds.get() > 0 {
        // A hook running the filter's code holds it (Envoy ended the stream during it):
        // the host's part now, the object's when the hook lets go (`Stream::let_go_hold`),
        // with Envoy's count.
        stream.holds.set(stream.holds.get() | ENDED);
        forget_stream(&stream);
        std::mem::forget(stream);
        return;
    }
    // The common end: nothing else holds the object, the thread keeps nothing of the
    // stream, and its binding's drop would run no user code. The object, with its
    // binding, is kept for a next stream as it is.
    if let Some(object) = Rc::get_mut(&mut stream)
        && let Some(worker) = &object.worker
        && !worker.failed.get()
        && !worker.host.holds_streams()
        && !calls::any_made()
        && (object.bound.as_ref()).is_none_or(|bound| worker.drops_quietly(bound))
    {
        // Taken out of an object nothing else holds: a spare object holds no runtime.
        if let Some(worker) = object.worker.take() {
            worker.keep_spare(stream);
        }
        return;
    }
    end_stream(stream);
}

/// [`envoy_dynamic_module_on_http_filter_destroy`], for a stream the thread keeps
/// something of, or whose binding's drop runs user code.
#[inline(never)]
fn end_stream(stream: Rc<Stream>) {
    forget_stream(&stream);
    release(stream);
}

/// Lets go of an ended stream's object with its thread's runtime ([`let_go`]).
fn release(mut stream: Rc<Stream>) {
    // Taken out of an object nothing else holds: a spare object holds no runtime.
    let worker = match Rc::get_mut(&mut stream) {
        Some(object) => object.worker.take(),
        None => stream.worker.clone(),
    };
    // A stream that could not be set up has nothing to end.
    if let Some(worker) = worker {
        barrier(|| (), || let_go(&worker, stream));
    }
}

/// The host's part of a stream's end: it is findable no more, carries no tick, and its
/// callouts and gRPC calls are forgotten (Envoy cancels them with its filter).
fn forget_stream(stream: &Stream) {
    let (context_id, filter) = (stream.context_id, stream.filter());
    if let Some(worker) = &stream.worker {
        barrier(
            || (),
            || {
                worker.host.stream_gone(context_id, filter);
                worker.host.forget_callouts(filter);
                worker.host.forget_grpc(filter);
            },
        );
    }
}

/// Lets go of an ended stream's object: the last holder drops its binding (with the plugin
/// in scope, when that runs user code) and keeps the object for a next stream; another
/// only lets go (a kept stream's holder that is still running).
fn let_go(worker: &Worker, mut stream: Rc<Stream>) {
    let (context_id, plugin) = (stream.context_id, stream.plugin);
    if worker.failed.get() {
        // A failed thread runs no user code: a filter made before it failed is left
        // undropped, as its binding was left in the dispatcher before.
        std::mem::forget(stream);
        return;
    }
    // Nothing else holds the object (a kept stream left the host's registry): its binding
    // is taken out, and the object kept for a next stream.
    let Some(object) = Rc::get_mut(&mut stream) else {
        worker.run("proxy_on_delete", Scope::plugin(plugin), move || {
            guarded(|| drop(stream));
            dispatch::on_bound_delete(context_id);
        });
        return;
    };
    // A binding whose drop runs no user code stays in the object, for a next stream of the
    // same plugin context.
    let quiet = (object.bound.as_ref()).is_none_or(|bound| worker.drops_quietly(bound));
    if !quiet || calls::any_made() {
        let bound = object.bound.take();
        // Its filter, then its calls, go with the plugin in scope (as `proxy_on_delete`
        // drops a listed stream's): their `Drop` is user code.
        worker.run("proxy_on_delete", Scope::plugin(plugin), move || {
            guarded(|| drop(bound));
            dispatch::on_bound_delete(context_id);
        });
    }
    worker.spare_stream(stream);
}

/// The clock's tick reached this thread through the stream carrying it ([`super::ticks`]):
/// the plugin contexts whose tick is due run it, on their own scope.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    _filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    _event_id: u64,
) {
    // SAFETY: Envoy passes the pointer `filter_new` returned, until `destroy`.
    if unsafe { stream_of(module) }.is_none() {
        return;
    }
    on_worker(|worker| {
        let ticks = &worker.host.ticks;
        for due in ticks.due() {
            let Some(plugin) = worker.host.plugin_of(due) else {
                continue;
            };
            ticks.running(|| {
                worker.run("proxy_on_tick", Scope::plugin(plugin), || {
                    root::proxy_on_tick(due);
                })
            });
        }
        ticks.rearm();
    });
}

/// Envoy requires these hooks of an HTTP filter module; the SDK does not act on
/// watermarks.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _filter: FilterEnvoyPtr,
    _module: FilterModulePtr,
) {
}

/// See [`envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark`].
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _filter: FilterEnvoyPtr,
    _module: FilterModulePtr,
) {
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::dynamic_module::tests::plugin;

    /// Envoy ending a stream while its hooks hold the object (nested ones too) leaves the
    /// object to the last of them: it is there until then, and let go after.
    #[test]
    fn a_stream_ended_during_its_hooks_ends_when_the_last_lets_go() {
        let stream = Stream::new(None, 5, plugin(), std::ptr::null_mut(), None);
        let watch = Rc::downgrade(&stream);
        let module: FilterModulePtr = Rc::into_raw(stream).cast();
        // SAFETY: the pointer just made, as Envoy hands it to the hooks.
        let object = unsafe { stream_of(module) }.unwrap();
        object.hold();
        object.hold();
        envoy_dynamic_module_on_http_filter_destroy(module);
        assert!(
            object.ended(),
            "Envoy's object is not to be called any more"
        );
        assert!(watch.upgrade().is_some(), "still there for the hooks");
        // SAFETY: the object of a pointer `filter_new`'s way made, held above.
        unsafe { object.let_go_hold() };
        assert!(watch.upgrade().is_some(), "the outer hook still holds it");
        // SAFETY: as above.
        unsafe { object.let_go_hold() };
        assert!(watch.upgrade().is_none(), "let go with the last hold");
    }

    /// Without a hook holding it, `destroy` ends the stream at once.
    #[test]
    fn a_stream_not_held_ends_at_destroy() {
        let stream = Stream::new(None, 6, plugin(), std::ptr::null_mut(), None);
        let watch = Rc::downgrade(&stream);
        envoy_dynamic_module_on_http_filter_destroy(Rc::into_raw(stream).cast());
        assert!(watch.upgrade().is_none());
    }
}
