//! gRPC streams' events: routed to the plugin or the filter that opened the stream, every
//! event until the close.
//!
//! Envoy keeps every stream on the plugin's context and delivers its events there, so the
//! event is read on that context, then handed to its owner: the plugin (the handler of
//! [`PluginOps::grpc_stream`](crate::PluginOps::grpc_stream)) or the HTTP stream whose
//! filter opened it. After the close the SDK closes its side too, so Envoy forgets the
//! stream.

use crate::abi::StreamType;
use crate::callout::{CallKind, GrpcEvent, Response};
use crate::grpc::{self, GrpcStreamEvent};
use crate::host;
use crate::plugin::{Plugin, StreamRouting};
use crate::runtime::dispatch::{
    DISPATCHER, answer_error, deliver_grpc_event, guarded, root, with_stream,
};

/// Routing is instantiated only where a plugin opens a stream (see [`StreamRouting`]).
impl<P: Plugin> StreamRouting for P {
    fn route_stream(token: u32, root_context_id: u32, max_message_bytes: usize) {
        DISPATCHER.with(|d| {
            let mut d = d.borrow_mut();
            d.callouts.insert(
                (CallKind::GrpcStream, token),
                (root_context_id, max_message_bytes),
            );
            d.grpc_deliver = Some(deliver_grpc_event);
        });
        grpc::on_cancel(forget);
    }
}

/// Whether stream `token` still has a handler waiting (not closed, not cancelled).
pub(crate) fn routed(token: u32) -> bool {
    DISPATCHER.with(|d| {
        d.borrow()
            .callouts
            .contains_key(&(CallKind::GrpcStream, token))
    })
}

/// A stream was cancelled: its events no longer route, and a plugin's handler goes.
pub(crate) fn forget(token: u32) {
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
pub(crate) fn deliver(token: u32, event: GrpcEvent) {
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
        forget(token);
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
