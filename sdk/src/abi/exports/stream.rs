//! HTTP stream callbacks.

use crate::dispatch::{self, Phase};

/// Request headers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    headers: usize,
    end_of_stream: u32,
) -> u32 {
    dispatch::on_http(
        context_id,
        Phase::RequestHeaders,
        headers,
        end_of_stream != 0,
    )
}

/// A request body chunk arrived (`body_size` counts what the host buffered so far).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_body(
    context_id: u32,
    body_size: usize,
    end_of_stream: u32,
) -> u32 {
    dispatch::on_http(
        context_id,
        Phase::RequestBody,
        body_size,
        end_of_stream != 0,
    )
}

/// Request trailers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, trailers: usize) -> u32 {
    dispatch::on_http(context_id, Phase::RequestTrailers, trailers, true)
}

/// Response headers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_headers(
    context_id: u32,
    headers: usize,
    end_of_stream: u32,
) -> u32 {
    dispatch::on_http(
        context_id,
        Phase::ResponseHeaders,
        headers,
        end_of_stream != 0,
    )
}

/// A response body chunk arrived.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_body(
    context_id: u32,
    body_size: usize,
    end_of_stream: u32,
) -> u32 {
    dispatch::on_http(
        context_id,
        Phase::ResponseBody,
        body_size,
        end_of_stream != 0,
    )
}

/// Response trailers arrived.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_trailers(context_id: u32, trailers: usize) -> u32 {
    dispatch::on_http(context_id, Phase::ResponseTrailers, trailers, true)
}
