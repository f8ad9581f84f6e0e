//! HTTP and gRPC callouts, raw: they return the host's token; the response arrives in
//! `proxy_on_http_call_response` / `proxy_on_grpc_*` for that token.

use super::{HostResult, check};
use crate::abi::{imports::safe as abi, pairs};
use std::time::Duration;

fn millis(timeout: Duration) -> u32 {
    u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX)
}

/// Sends an HTTP request to cluster `upstream`. `headers` must carry `:method`, `:path`
/// and `:authority`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn http_call<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    upstream: &str,
    headers: &[(K, V)],
    body: &[u8],
    trailers: &[(K, V)],
    timeout: Duration,
) -> HostResult<u32> {
    let headers = pairs::encode(headers);
    let trailers = pairs::encode(trailers);
    let mut token = 0u32;
    check(
        "proxy_http_call",
        abi::proxy_http_call(
            upstream.as_bytes(),
            &headers,
            body,
            &trailers,
            millis(timeout),
            &mut token,
        ),
    )?;
    Ok(token)
}

/// Sends one unary gRPC request (`message` is the serialized request).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn grpc_call<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    upstream: &str,
    service: &str,
    method: &str,
    metadata: &[(K, V)],
    message: &[u8],
    timeout: Duration,
) -> HostResult<u32> {
    let metadata = pairs::encode(metadata);
    let mut token = 0u32;
    check(
        "proxy_grpc_call",
        abi::proxy_grpc_call(
            upstream.as_bytes(),
            service.as_bytes(),
            method.as_bytes(),
            &metadata,
            message,
            millis(timeout),
            &mut token,
        ),
    )?;
    Ok(token)
}

/// Opens a gRPC stream to `service/method` on `upstream` with initial `metadata`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn grpc_stream<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    upstream: &str,
    service: &str,
    method: &str,
    metadata: &[(K, V)],
) -> HostResult<u32> {
    let metadata = pairs::encode(metadata);
    let mut token = 0u32;
    check(
        "proxy_grpc_stream",
        abi::proxy_grpc_stream(
            upstream.as_bytes(),
            service.as_bytes(),
            method.as_bytes(),
            &metadata,
            &mut token,
        ),
    )?;
    Ok(token)
}

/// Sends `message` on gRPC stream `token`; `end_stream` half-closes it after the message.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call
/// (`NotFound` once the stream is gone).
pub fn grpc_send(token: u32, message: &[u8], end_stream: bool) -> HostResult<()> {
    check(
        "proxy_grpc_send",
        abi::proxy_grpc_send(token, message, u32::from(end_stream)),
    )
}

/// Closes gRPC stream `token` from this side (a half-close; the peer may still answer).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn grpc_close(token: u32) -> HostResult<()> {
    check("proxy_grpc_close", abi::proxy_grpc_close(token))
}

/// Cancels a gRPC call.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn grpc_cancel(token: u32) -> HostResult<()> {
    check("proxy_grpc_cancel", abi::proxy_grpc_cancel(token))
}

/// The status code and message of the callout being delivered.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn status() -> HostResult<(u32, Vec<u8>)> {
    let mut code = 0u32;
    let message = super::returned_bytes("proxy_get_status", |data| {
        abi::proxy_get_status(&mut code, data)
    })?;
    Ok((code, message.unwrap_or_default()))
}
