//! HTTP callouts.

hostcalls! {
    /// Host side of HTTP callouts.
    trait HttpCallHost;
    /// Sends an HTTP request to cluster `upstream`; the response arrives in
    /// `proxy_on_http_call_response` with the id written to `return_token`.
    fn proxy_http_call(upstream: &[u8], headers: &[u8], body: &[u8], trailers: &[u8], timeout_ms: u32, return_token: &mut u32);
}
