//! Envoy's dynamic-module event hooks for an HTTP filter, each driving the runtime's
//! proxy-wasm exports on the calling thread ([`Worker`]).
//!
//! Envoy requires every hook below of an HTTP filter module; those for features the SDK
//! does not map (watermarks) do nothing. The answers to what a stream started (callouts,
//! gRPC calls) arrive in [`answers`](super::answers).

use super::host::{NativeHost, Scope};
use super::{
    Kind, PluginConfig, WORKER, Worker, callback, config_destroy, config_new, config_of, skips,
};
use crate::abi::dynamic_module::{
    EnvoyBuffer, FilterConfigEnvoyPtr, FilterConfigModulePtr, FilterEnvoyPtr, FilterModulePtr,
    ModuleBuffer, callbacks, status,
};
use crate::runtime::exports::{lifecycle, root, stream};
use std::cell::Cell;

/// The module's object for one stream.
pub(super) struct Stream {
    pub(super) context_id: u32,
    pub(super) plugin: &'static PluginConfig,
    /// Envoy's object for the stream.
    pub(super) filter: FilterEnvoyPtr,
    /// When the filter was made: `request.time`.
    pub(super) started: std::time::SystemTime,
    /// Whether this thread's plugin context of the configuration is there (configuring it
    /// may have failed).
    configured: bool,
    /// Whether the stream was answered for a failed module already.
    pub(super) answered: Cell<bool>,
}

/// The stream behind a module pointer Envoy hands back (`None` for null).
///
/// # Safety
/// `module` must be null, or a pointer `envoy_dynamic_module_on_http_filter_new` returned
/// and `envoy_dynamic_module_on_http_filter_destroy` has not freed.
pub(super) unsafe fn stream_of<'a>(module: FilterModulePtr) -> Option<&'a Stream> {
    // SAFETY: the caller's contract: null or a live `Box<Stream>` made by `filter_new`.
    unsafe { module.cast::<Stream>().as_ref() }
}

/// Runs a hook's body. A panic the runtime's own guard did not catch (a bug in the SDK
/// rather than in the filter) stops here, because unwinding into Envoy would abort it: the
/// thread fails as after a filter's panic, and the hook returns what `fallback` makes.
pub(super) fn barrier<R>(fallback: impl FnOnce() -> R, body: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(_) => {
            let _ = WORKER.try_with(Worker::fail);
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
    barrier(|| (), || WORKER.with(body));
}

/// A phase's hook: the stream's export `name` (flag `bit`), behind the barrier.
fn phase_hook(
    module: FilterModulePtr,
    bit: u16,
    name: &str,
    call: impl FnOnce(u32) -> u32,
) -> Flow {
    // SAFETY: Envoy passes the pointer `filter_new` returned, until `destroy`.
    let Some(stream) = (unsafe { stream_of(module) }) else {
        return Flow::Continue;
    };
    if stream.configured && skips(bit) {
        return Flow::Continue;
    }
    barrier(
        || {
            if stream.answered.get() {
                Flow::Continue
            } else {
                stream.answer_failed()
            }
        },
        || stream.phase(bit, name, call),
    )
}

/// What a phase's hook tells Envoy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

impl Stream {
    /// Runs the phase's export `name` (when the filter implements it, flag `bit`), and
    /// answers 503 for a module that failed; `Stop` if the filter paused or answered.
    fn phase(&self, bit: u16, name: &str, call: impl FnOnce(u32) -> u32) -> Flow {
        WORKER.with(|worker| {
            if self.answered.get() {
                return Flow::Continue;
            }
            if !self.configured || worker.failed.get() {
                return self.answer_failed();
            }
            if !worker.implements(bit) {
                return Flow::Continue;
            }
            let scope = Scope::stream(self.filter, self.plugin, self.started);
            let result = worker.run(name, scope, || call(self.context_id));
            worker.host.ticks.ran_hook(self.filter);
            match result {
                Some(0) => Flow::Continue,
                Some(_) => Flow::Stop,
                None => self.answer_failed(),
            }
        })
    }

    /// Answers the stream 503 with an empty body, as Envoy answers a failed wasm VM's.
    pub(super) fn answer_failed(&self) -> Flow {
        self.answered.set(true);
        if let Some(send) = callbacks().http_send_response {
            // SAFETY: Envoy's stream object, in one of its hooks; no headers, empty body.
            unsafe {
                send(
                    self.filter,
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
    let started = std::time::SystemTime::now();
    let stream = |configured| Stream {
        context_id: 0,
        plugin,
        filter,
        started,
        configured,
        answered: Cell::new(false),
    };
    // A stream that could not be set up is answered 503 at its first phase.
    let stream = barrier(
        || stream(false),
        || {
            WORKER.with(|worker| {
                let root = (!worker.failed.get())
                    .then(|| worker.root_of(plugin))
                    .flatten();
                let context_id = worker.next_context_id();
                let scope = Scope::stream(filter, plugin, started);
                worker.host.add_stream(context_id, scope);
                // Bound to its configuration's plugin context, as Envoy announces a wasm
                // stream with its root context.
                let configured = root.is_some_and(|root| {
                    worker
                        .run("proxy_on_context_create", scope, || {
                            lifecycle::proxy_on_context_create(context_id, root);
                        })
                        .is_some()
                });
                Stream {
                    context_id,
                    ..stream(configured)
                }
            })
        },
    );
    Box::into_raw(Box::new(stream)).cast_const().cast()
}

/// A body hook: the request's (`request`) or the response's, with the size proxy-wasm
/// reports (what was buffered and what arrived).
fn body_hook(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    request: bool,
    end_of_stream: bool,
) -> u32 {
    let (bit, name, export): (_, _, fn(u32, usize, u32) -> u32) = if request {
        (
            callback::REQUEST_BODY,
            "proxy_on_request_body",
            stream::proxy_on_request_body,
        )
    } else {
        (
            callback::RESPONSE_BODY,
            "proxy_on_response_body",
            stream::proxy_on_response_body,
        )
    };
    status(phase_hook(module, bit, name, |id| {
        let size = WORKER.with(|worker| worker.host.body_size(filter, request));
        export(id, size, u32::from(end_of_stream))
    }))
}

/// Maps the runtime's action to a hook's status.
fn status(flow: Flow) -> u32 {
    match flow {
        Flow::Continue => status::CONTINUE,
        Flow::Stop => status::STOP,
    }
}

/// The request's headers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    _filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    status(phase_hook(
        module,
        callback::REQUEST_HEADERS,
        "proxy_on_request_headers",
        |id| stream::proxy_on_request_headers(id, 0, u32::from(end_of_stream)),
    ))
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
    status(phase_hook(
        module,
        callback::REQUEST_TRAILERS,
        "proxy_on_request_trailers",
        |id| stream::proxy_on_request_trailers(id, 0),
    ))
}

/// The response's headers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    _filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    status(phase_hook(
        module,
        callback::RESPONSE_HEADERS,
        "proxy_on_response_headers",
        |id| stream::proxy_on_response_headers(id, 0, u32::from(end_of_stream)),
    ))
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
    status(phase_hook(
        module,
        callback::RESPONSE_TRAILERS,
        "proxy_on_response_trailers",
        |id| stream::proxy_on_response_trailers(id, 0),
    ))
}

/// The stream is complete (access-log time): the filter's last look.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _filter: FilterEnvoyPtr,
    module: FilterModulePtr,
) {
    // SAFETY: Envoy passes the pointer `filter_new` returned, until `destroy`.
    let Some(stream) = (unsafe { stream_of(module) }) else {
        return;
    };
    if stream.configured && !skips(callback::LOG) {
        let scope = Scope::stream(stream.filter, stream.plugin, stream.started);
        on_worker(|worker| worker.last_look(scope, stream.context_id));
    }
}

/// The stream is gone: its filter is dropped.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(module: FilterModulePtr) {
    // SAFETY: the pointer `filter_new` returned (a `Box<Stream>`), freed only here.
    let Some(stream) = (unsafe { take_module::<Stream>(module) }) else {
        return;
    };
    let (context_id, filter) = (stream.context_id, stream.filter);
    end_context(context_id, stream.plugin, stream.configured, |host| {
        host.forget_callouts(filter);
        host.forget_grpc(filter);
    });
}

/// The end of a stream's or a connection's context (its `destroy` hook): the host forgets
/// it (and `forget` what it held of it), then the plugin's `proxy_on_delete` runs if the
/// context was `made`. Envoy's object is going away: only the plugin is in scope.
pub(super) fn end_context(
    context_id: u32,
    plugin: &'static PluginConfig,
    made: bool,
    forget: impl FnOnce(&NativeHost),
) {
    on_worker(|worker| {
        worker.host.remove_context(context_id);
        forget(&worker.host);
        if made && worker.implements(callback::DELETE) {
            worker.run("proxy_on_delete", Scope::plugin(plugin), || {
                lifecycle::proxy_on_delete(context_id);
            });
        }
    });
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
