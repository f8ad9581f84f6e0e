//! Answers to calls: HTTP and gRPC callouts, gRPC streams' events and streams' timers.
//!
//! One registry holds every call in flight, the dispatcher's `calls`: for each, its kind
//! and token, the context that made it (a stream, or a plugin context), the largest answer
//! it takes, and its handler, typed by that context's filter or plugin inside
//! ([`Answer`]). An answer's walk: the export (`proxy_on_http_call_response`, a gRPC
//! event) → the reader of its kind → [`deliver`], which reads the answer on the plugin's
//! context (where Envoy delivers it), takes the handler out of the registry and runs it
//! with its owner → the user's closure.

use crate::abi::StreamType;
use crate::callout::{
    Answer, CallKind, CallRouting, Response, read_grpc_event, read_http_response,
};
use crate::grpc::{self, GrpcEvent, GrpcStreamEvent};
use crate::host::{self, HostError, HostResult};
use crate::runtime::access::{answer_error, bound_root, guarded, with_stream};
use crate::runtime::contexts::Ran;
use crate::runtime::state::{self, Dispatcher, Pending};
use crate::timer;
use std::time::Duration;

/// The registry's entry of call `token` of `kind`.
fn pending(d: &mut Dispatcher, kind: CallKind, token: u32) -> Option<&mut Pending> {
    d.calls
        .iter_mut()
        .find(|call| call.kind == kind && call.token == token)
}

/// Takes call `token`'s entry out of the registry.
fn remove(d: &mut Dispatcher, kind: CallKind, token: u32) -> Option<Pending> {
    let at = d
        .calls
        .iter()
        .position(|call| call.kind == kind && call.token == token)?;
    Some(d.calls.swap_remove(at))
}

/// Runs the handler waiting for call `token` of `kind` with the context that made it.
/// `read` reads the answer (taking at most the call's limit); `None` brings nothing to run.
/// A gRPC stream's handler stays for its next event, until the close.
fn deliver(kind: CallKind, token: u32, read: impl FnOnce(usize) -> Option<Response>) {
    let Some((owner, limit)) =
        state::with(|d| pending(d, kind, token).map(|call| (call.owner, call.limit)))
    else {
        log::debug!("response to callout {token}, which nobody waits for");
        return;
    };
    // Envoy delivers the answer on the plugin's context, which holds it: read it there,
    // then run the handler on the context that made the call.
    let Some(response) = read(limit) else {
        return;
    };
    let again = matches!(&response, Response::Stream(event)
        if !matches!(event, GrpcStreamEvent::Closed { .. }));
    // Out of the registry while it runs (user code may call out, or cancel its stream).
    let taken = state::with(|d| {
        if again {
            pending(d, kind, token).and_then(|call| call.answer.take())
        } else {
            remove(d, kind, token).and_then(|call| call.answer)
        }
    });
    let Some(mut answer) = taken else {
        return;
    };
    match run(owner, &mut answer, response) {
        Ok(Some(Ok(()))) => {}
        Ok(Some(Err(error))) => {
            let what = match kind {
                CallKind::GrpcStream => "gRPC stream",
                _ => "callout",
            };
            answer_error(
                &format_args!("{what} {token}"),
                error,
                StreamType::HttpRequest,
            );
        }
        // Its filter busy, its plugin not configured, or a panic (kept for the host):
        // this answer is not run, and a stream stays for its next event.
        Ok(None) => log::debug!("response to callout {token}: its handler could not run"),
        Err(Gone) => {
            log::debug!("response to callout {token}: its stream {owner} is gone");
            if kind == CallKind::GrpcStream {
                let _ = host::callouts::grpc_cancel(token);
                forget_stream(token);
            }
        }
    }
    if again {
        // Back for the next event, unless the handler cancelled the stream meanwhile;
        // otherwise dropped here, after the registry is released (a closure's `Drop` is
        // user code).
        let unplaced = state::with(|d| match pending(d, kind, token) {
            Some(call) => {
                call.answer = Some(answer);
                None
            }
            None => Some(answer),
        });
        drop(unplaced);
    }
}

/// The context that made a call is gone: Envoy no longer has it.
struct Gone;

/// Runs `answer` with context `owner`: a plugin context, or a stream's filter (on the
/// stream's context). `Ok(None)` if the handler could not run now.
fn run(owner: u32, answer: &mut Answer, response: Response) -> Result<Ran, Gone> {
    if let Some(root) = state::root(owner) {
        return Ok(guarded(|| root.answer(owner, answer, response)));
    }
    host::context::set_effective_context(owner).map_err(|_| Gone)?;
    Ok(guarded(|| {
        with_stream(owner, |stream| stream.answer(owner, answer, response))
    }))
}

/// Whether any call (or stream timer) was made in this process: until one is, an ended
/// stream has none to drop, and the native target does not look.
static MADE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a call may be in flight (see [`MADE`]).
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) fn any_made() -> bool {
    MADE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Instantiated only where a filter or a plugin calls out (see [`CallRouting`]): the code
/// that keeps and delivers answers is linked into modules that make calls, and only those.
impl<T: 'static> CallRouting for T {
    fn route(kind: CallKind, token: u32, owner: u32, limit: usize, answer: Answer) {
        MADE.store(true, std::sync::atomic::Ordering::Relaxed);
        state::keep_findable(owner);
        state::with(|d| {
            d.calls.push(Pending {
                kind,
                token,
                owner,
                limit,
                answer: Some(answer),
            });
            match kind {
                CallKind::Http => d.http_deliver = Some(deliver_http_response),
                CallKind::Grpc | CallKind::GrpcStream => d.grpc_deliver = Some(deliver_grpc_event),
                CallKind::Timer => {}
            }
        });
        if kind == CallKind::GrpcStream {
            grpc::on_cancel(forget_stream);
        }
    }

    fn schedule(context_id: u32, delay: Duration, answer: Answer) -> HostResult<()> {
        let Some((root_context_id, root)) = bound_root(context_id) else {
            return Err(HostError {
                call: "proxy_set_tick_period_milliseconds",
                status: crate::abi::Status::NotFound,
            });
        };
        MADE.store(true, std::sync::atomic::Ordering::Relaxed);
        state::keep_findable(context_id);
        let token = next_timer_token();
        let now = timer::now_nanos()?;
        let due = now.saturating_add(timer::duration_nanos(delay));
        let next = state::with(|d| {
            d.calls.push(Pending {
                kind: CallKind::Timer,
                token,
                owner: context_id,
                limit: 0,
                answer: Some(answer),
            });
            d.stream_timers.push((root_context_id, due, token));
            d.stream_tick = Some(run_stream_timers);
            next_stream_timer(d, root_context_id)
        });
        let armed = root.set_streams_next(next, now);
        if armed.is_err() {
            // Refused: the timer goes (its handler dropped once the registry is released),
            // so it does not fire later on another timer's tick.
            let gone = state::with(|d| {
                d.stream_timers.retain(|(_, _, timer)| *timer != token);
                remove(d, CallKind::Timer, token)
            });
            drop(gone);
        }
        armed
    }
}

/// The next stream timer's number (unique in this VM).
fn next_timer_token() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Context `context_id` ended: its calls leave the registry (with their stream timers),
/// handed back to be dropped by [`drop_calls`] once the dispatcher is released.
pub(crate) fn take_calls(d: &mut Dispatcher, context_id: u32) -> Vec<Pending> {
    let mut gone = Vec::new();
    let mut at = 0;
    while at < d.calls.len() {
        if d.calls[at].owner == context_id {
            let call = d.calls.swap_remove(at);
            if call.kind == CallKind::Timer {
                d.stream_timers.retain(|(_, _, token)| *token != call.token);
            }
            gone.push(call);
        } else {
            at += 1;
        }
    }
    gone
}

/// Drops the calls of an ended context (a closure's `Drop` is user code, so this runs
/// with the dispatcher released). A stream's gRPC streams are cancelled: Envoy keeps them
/// on the plugin's context, so they would outlive the stream.
pub(crate) fn drop_calls(gone: Vec<Pending>, stream: bool) {
    if stream {
        for call in &gone {
            if call.kind == CallKind::GrpcStream {
                let _ = host::callouts::grpc_cancel(call.token);
            }
        }
    }
    drop(gone);
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
    let due: Vec<u32> = state::with(|d| {
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
    let next = state::with(|d| next_stream_timer(d, root_context_id));
    if let Some(root) = state::root(root_context_id) {
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
fn deliver_grpc_event(token: u32, event: GrpcEvent) {
    let unary = state::with(|d| pending(d, CallKind::Grpc, token).is_some());
    if unary {
        deliver(CallKind::Grpc, token, |limit| read_grpc_event(event, limit));
        return;
    }
    // A stream's event: after the close the SDK closes its side too (unless it cancelled
    // the stream for a message over the limit), so Envoy forgets the stream.
    deliver(CallKind::GrpcStream, token, |limit| {
        let (event, cancelled) = grpc::read_event(token, event, limit);
        if matches!(event, Some(GrpcStreamEvent::Closed { .. })) && !cancelled {
            let _ = host::callouts::grpc_close(token);
        }
        event.map(Response::Stream)
    });
}

pub(crate) fn on_http_call_response(
    _context_id: u32,
    token: u32,
    headers: usize,
    body_size: usize,
    _trailers: usize,
) {
    match state::with(|d| d.http_deliver) {
        Some(deliver) => deliver(token, headers, body_size),
        None => log::debug!("response to callout {token}, which nobody waits for"),
    }
}

pub(crate) fn on_grpc_event(_context_id: u32, token: u32, event: GrpcEvent) {
    match state::with(|d| d.grpc_deliver) {
        Some(deliver) => deliver(token, event),
        None => log::debug!("event for callout {token}, which nobody waits for"),
    }
}

/// A stream was cancelled: its events no longer route, and its handler goes (after the
/// registry is released).
fn forget_stream(token: u32) {
    // A filter dropped as the dispatcher is torn down finds it borrowed: all goes anyway.
    let gone = state::DISPATCHER.with(|d| {
        let mut d = d.try_borrow_mut().ok()?;
        remove(&mut d, CallKind::GrpcStream, token)
    });
    drop(gone);
}
