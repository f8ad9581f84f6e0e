//! HTTP stream callbacks. They are exported by [`http_filter`](crate::http_filter) in the
//! filter crate, each only if the filter implements it: Envoy skips a callback a module
//! does not export, which saves a VM crossing per request.

use crate::runtime::contexts::Phase;
use crate::runtime::dispatch;

/// Request headers arrived.
pub fn proxy_on_request_headers(context_id: u32, headers: usize, end_of_stream: u32) -> u32 {
    crate::host::context::entered(context_id, || {
        dispatch::on_http(
            context_id,
            Phase::RequestHeaders,
            headers,
            end_of_stream != 0,
        )
    })
}

/// A request body chunk arrived (`body_size` counts what the host buffered so far).
pub fn proxy_on_request_body(context_id: u32, body_size: usize, end_of_stream: u32) -> u32 {
    crate::host::context::entered(context_id, || {
        dispatch::on_http(
            context_id,
            Phase::RequestBody,
            body_size,
            end_of_stream != 0,
        )
    })
}

/// Request trailers arrived.
pub fn proxy_on_request_trailers(context_id: u32, trailers: usize) -> u32 {
    crate::host::context::entered(context_id, || {
        dispatch::on_http(context_id, Phase::RequestTrailers, trailers, true)
    })
}

/// Response headers arrived.
pub fn proxy_on_response_headers(context_id: u32, headers: usize, end_of_stream: u32) -> u32 {
    crate::host::context::entered(context_id, || {
        dispatch::on_http(
            context_id,
            Phase::ResponseHeaders,
            headers,
            end_of_stream != 0,
        )
    })
}

/// A response body chunk arrived.
pub fn proxy_on_response_body(context_id: u32, body_size: usize, end_of_stream: u32) -> u32 {
    crate::host::context::entered(context_id, || {
        dispatch::on_http(
            context_id,
            Phase::ResponseBody,
            body_size,
            end_of_stream != 0,
        )
    })
}

/// Response trailers arrived.
pub fn proxy_on_response_trailers(context_id: u32, trailers: usize) -> u32 {
    crate::host::context::entered(context_id, || {
        dispatch::on_http(context_id, Phase::ResponseTrailers, trailers, true)
    })
}
