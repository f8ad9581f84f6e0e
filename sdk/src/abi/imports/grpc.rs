//! gRPC callouts and streams.

hostcalls! {
    /// Host side of gRPC callouts.
    trait GrpcHost;
    /// Sends one unary gRPC request.
    fn proxy_grpc_call(upstream: &[u8], service: &[u8], method: &[u8], metadata: &[u8], message: &[u8], timeout_ms: u32, return_token: &mut u32);
    /// Opens a gRPC stream.
    fn proxy_grpc_stream(upstream: &[u8], service: &[u8], method: &[u8], metadata: &[u8], return_token: &mut u32);
    /// Sends a message on an open gRPC stream.
    fn proxy_grpc_send(token: u32, message: &[u8], end_stream: u32);
    /// Cancels a gRPC call or stream.
    fn proxy_grpc_cancel(token: u32);
    /// Closes a gRPC call or stream.
    fn proxy_grpc_close(token: u32);
}
