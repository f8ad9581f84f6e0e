//! HTTP callouts.

hostcalls! {
    /// Host side of HTTP callouts.
    trait HttpCallHost;
    /// Sends an HTTP request to cluster `upstream`; the response arrives in
    /// `proxy_on_http_call_response` with the id written to `return_token`.
    fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    );
}
