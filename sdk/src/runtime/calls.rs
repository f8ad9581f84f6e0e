//! Answers to calls: HTTP and gRPC callouts, gRPC streams' events and streams' timers,
//! each delivered to the context that started it: a stream (whose filter keeps the
//! handler, typed by the filter) or a plugin context (whose services keep it, typed by the
//! plugin).

use crate::abi::StreamType;
use crate::callout::{CallKind, CallRouting, Response, read_grpc_event, read_http_response};
use crate::filter::HttpFilter;
use crate::grpc::{self, GrpcEvent, GrpcStreamEvent};
use crate::host::{self, HostError, HostResult};
use crate::plugin::{Plugin, PluginCallRouting, StreamRouting};
use crate::runtime::access::{answer_error, bound_root, guarded, with_stream};
use crate::runtime::state::{self, DISPATCHER, Dispatcher, root};
use crate::timer;
use std::time::Duration;

/// Runs the handler waiting for call `token`, with the filter or plugin that made it.
fn deliver(kind: CallKind, token: u32, read_response: impl FnOnce(usize) -> Option<Response>) {
    let Some((context_id, limit)) = state::with(|d| d.callouts.get(&(kind, token)).copied()) else {
        log::debug!("response to callout {token}, which nobody waits for");
        return;
    };
    // Envoy delivers the response on the plugin's context, which holds it: read it there,
    // then act on the context that made the call.
    let Some(response) = read_response(limit) else {
        return;
    };
    state::with(|d| d.callouts.remove(&(kind, token)));
    if let Some(root) = state::root(context_id) {
        guarded(|| root.on_callout_response(context_id, (kind, token), response));
        return;
    }
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

/// Call `token` of `kind` answers to context `context_id` (responses of at most `limit`
/// bytes), with the reader of its kind installed.
fn route(kind: CallKind, token: u32, context_id: u32, limit: usize) {
    state::with(|d| {
        d.callouts.insert((kind, token), (context_id, limit));
        match kind {
            CallKind::Http => d.http_deliver = Some(deliver_http_response),
            CallKind::Grpc | CallKind::GrpcStream => d.grpc_deliver = Some(deliver_grpc_event),
            CallKind::Timer => {}
        }
    });
}

/// Routing is instantiated only where a filter calls out (see [`CallRouting`]): the code
/// that delivers responses is linked into modules that make calls, and only those.
impl<F: HttpFilter> CallRouting for F {
    fn route(kind: CallKind, token: u32, context_id: u32, max_response_bytes: usize) {
        route(kind, token, context_id, max_response_bytes);
        if kind == CallKind::GrpcStream {
            crate::grpc::on_cancel(forget_stream);
        }
    }

    fn routed(kind: CallKind, token: u32) -> bool {
        state::with(|d| d.callouts.contains_key(&(kind, token)))
    }

    fn forget(kind: CallKind, token: u32) {
        // A filter dropped as the dispatcher is torn down finds it borrowed: all goes.
        state::DISPATCHER.with(|d| {
            if let Ok(mut d) = d.try_borrow_mut() {
                d.callouts.remove(&(kind, token));
            }
        });
    }

    fn schedule(token: u32, context_id: u32, delay: Duration) -> HostResult<()> {
        let Some((root_context_id, root)) = bound_root(context_id) else {
            return Err(HostError {
                call: "proxy_set_tick_period_milliseconds",
                status: crate::abi::Status::NotFound,
            });
        };
        let now = timer::now_nanos()?;
        let due = now.saturating_add(timer::duration_nanos(delay));
        let next = state::with(|d| {
            d.callouts.insert((CallKind::Timer, token), (context_id, 0));
            d.stream_timers.push((root_context_id, due, token));
            d.stream_tick = Some(run_stream_timers);
            next_stream_timer(d, root_context_id)
        });
        root.set_streams_next(next, now)
    }
}

/// A plugin's HTTP calls answer to its plugin context; instantiated only where a plugin
/// calls out.
impl<P: Plugin> PluginCallRouting for P {
    fn route_call(token: u32, root_context_id: u32, max_response_bytes: usize) {
        route(CallKind::Http, token, root_context_id, max_response_bytes);
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
pub(crate) fn deliver_grpc_event(token: u32, event: GrpcEvent) {
    let unary = state::with(|d| d.callouts.contains_key(&(CallKind::Grpc, token)));
    if unary {
        deliver(CallKind::Grpc, token, |limit| read_grpc_event(event, limit));
    } else {
        deliver_stream_event(token, event);
    }
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

// gRPC streams' events: routed to the plugin or the filter that opened the stream, every
// event until the close. Envoy keeps every stream on the plugin's context and delivers its events there, so the
// event is read on that context, then handed to its owner: the plugin (the handler of
// [`PluginOps::grpc_stream`](crate::PluginOps::grpc_stream)) or the HTTP stream whose
// filter opened it. After the close the SDK closes its side too, so Envoy forgets the
// stream.

/// Routing is instantiated only where a plugin opens a stream (see [`StreamRouting`]).
impl<P: Plugin> StreamRouting for P {
    fn route_stream(token: u32, root_context_id: u32, max_message_bytes: usize) {
        state::with(|d| {
            d.callouts.insert(
                (CallKind::GrpcStream, token),
                (root_context_id, max_message_bytes),
            );
            d.grpc_deliver = Some(deliver_grpc_event);
        });
        grpc::on_cancel(forget_stream);
    }
}

/// Whether stream `token` still has a handler waiting (not closed, not cancelled).
pub(crate) fn stream_routed(token: u32) -> bool {
    DISPATCHER.with(|d| {
        d.borrow()
            .callouts
            .contains_key(&(CallKind::GrpcStream, token))
    })
}

/// A stream was cancelled: its events no longer route, and a plugin's handler goes.
pub(crate) fn forget_stream(token: u32) {
    let owner = DISPATCHER.with(|d| {
        let mut d = d.try_borrow_mut().ok()?;
        d.callouts
            .remove(&(CallKind::GrpcStream, token))
            .map(|(owner, _)| owner)
    });
    if let Some(root) = owner.and_then(root) {
        root.forget_stream(token);
    }
}

/// Hands event `event` of stream `token` to the handler of whoever opened it.
pub(crate) fn deliver_stream_event(token: u32, event: GrpcEvent) {
    let key = (CallKind::GrpcStream, token);
    let Some((owner, limit)) = DISPATCHER.with(|d| d.borrow().callouts.get(&key).copied()) else {
        log::debug!("event for gRPC stream {token}, which nobody waits for");
        return;
    };
    let (event, cancelled) = grpc::read_event(token, event, limit);
    let Some(event) = event else {
        return;
    };
    if matches!(event, GrpcStreamEvent::Closed { .. }) {
        DISPATCHER.with(|d| d.borrow_mut().callouts.remove(&key));
        if !cancelled {
            // The service ended it; Envoy forgets a stream once both sides have closed.
            let _ = host::callouts::grpc_close(token);
        }
    }
    if let Some(plugin) = root(owner) {
        guarded(|| plugin.on_grpc_stream(owner, token, event));
        return;
    }
    // A filter's stream: its handler runs on the HTTP stream, as a callout's response.
    if host::context::set_effective_context(owner).is_err() {
        log::debug!("gRPC stream {token}: its HTTP stream {owner} is gone");
        let _ = host::callouts::grpc_cancel(token);
        forget_stream(token);
        return;
    }
    let delivered = guarded(|| {
        with_stream(owner, |stream| {
            stream.on_callout_response(owner, key, Response::Stream(event))
        })
    });
    if let Some(Err(error)) = delivered.flatten() {
        answer_error(
            &format_args!("gRPC stream {token}"),
            error,
            StreamType::HttpRequest,
        );
    }
}
