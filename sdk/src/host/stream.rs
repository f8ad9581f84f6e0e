//! Stream control and local responses.

use super::{HostResult, check};
use crate::abi::{StreamType, imports::safe as abi, pairs};

/// Resumes a paused stream direction.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn resume(stream: StreamType) -> HostResult<()> {
    check(
        "proxy_continue_stream",
        abi::proxy_continue_stream(stream as u32),
    )
}

/// Closes (resets) a stream direction.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn close(stream: StreamType) -> HostResult<()> {
    check("proxy_close_stream", abi::proxy_close_stream(stream as u32))
}

/// Answers the current request from the proxy. `details` shows in Envoy's
/// `%RESPONSE_CODE_DETAILS%`; `grpc_status` is `None` for plain HTTP.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn send_local_response<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    status: u32,
    details: &str,
    body: &[u8],
    headers: &[(K, V)],
    grpc_status: Option<i32>,
) -> HostResult<()> {
    let headers = pairs::encode(headers);
    check(
        "proxy_send_local_response",
        abi::proxy_send_local_response(
            status,
            details.as_bytes(),
            body,
            &headers,
            grpc_status.unwrap_or(-1),
        ),
    )
}
