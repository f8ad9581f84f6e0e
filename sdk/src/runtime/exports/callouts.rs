//! Answers to HTTP and gRPC callouts.

use crate::grpc::GrpcEvent;
use crate::runtime::calls;

/// An HTTP callout finished; `headers == 0` means it failed.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_http_call_response(
    context_id: u32,
    token: u32,
    headers: usize,
    body_size: usize,
    trailers: usize,
) {
    crate::host::context::entered(context_id, || {
        calls::on_http_call_response(context_id, token, headers, body_size, trailers);
    })
}

/// Initial metadata of a gRPC callout arrived.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_receive_initial_metadata(
    context_id: u32,
    token: u32,
    headers: usize,
) {
    crate::host::context::entered(context_id, || {
        calls::on_grpc_event(context_id, token, GrpcEvent::InitialMetadata(headers));
    })
}

/// A gRPC message arrived.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_receive(context_id: u32, token: u32, message_size: usize) {
    crate::host::context::entered(context_id, || {
        calls::on_grpc_event(context_id, token, GrpcEvent::Message(message_size));
    })
}

/// Trailing metadata of a gRPC callout arrived.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_receive_trailing_metadata(
    context_id: u32,
    token: u32,
    trailers: usize,
) {
    crate::host::context::entered(context_id, || {
        calls::on_grpc_event(context_id, token, GrpcEvent::TrailingMetadata(trailers));
    })
}

/// A gRPC call or stream closed with `status_code`.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_close(context_id: u32, token: u32, status_code: u32) {
    crate::host::context::entered(context_id, || {
        calls::on_grpc_event(context_id, token, GrpcEvent::Close(status_code));
    })
}
