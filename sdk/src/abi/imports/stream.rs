//! Stream control and local responses.

hostcalls! {
    /// Host side of stream control.
    trait StreamHost;
    /// Resumes a paused stream direction.
    fn proxy_continue_stream(stream_type: u32);
    /// Closes (resets) a stream direction.
    fn proxy_close_stream(stream_type: u32);
    /// Answers the request from the proxy instead of the upstream.
    fn proxy_send_local_response(status_code: u32, details: &[u8], body: &[u8], headers: &[u8], grpc_status: i32);
    /// Returns the status code and message of the callout being delivered.
    fn proxy_get_status(return_code: &mut u32, return_message: &mut Vec<u8>);
}
