//! gRPC callouts and streams.

hostcalls! {
    /// Host side of gRPC callouts.
    trait GrpcHost;
    /// Sends one unary gRPC request.
    fn proxy_grpc_call(
        upstream_data: *const u8,
        upstream_size: usize,
        service_data: *const u8,
        service_size: usize,
        method_data: *const u8,
        method_size: usize,
        metadata_data: *const u8,
        metadata_size: usize,
        message_data: *const u8,
        message_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    );
    /// Opens a gRPC stream.
    fn proxy_grpc_stream(
        upstream_data: *const u8,
        upstream_size: usize,
        service_data: *const u8,
        service_size: usize,
        method_data: *const u8,
        method_size: usize,
        metadata_data: *const u8,
        metadata_size: usize,
        return_token: *mut u32,
    );
    /// Sends a message on an open gRPC stream.
    fn proxy_grpc_send(token: u32, message_data: *const u8, message_size: usize, end_stream: u32);
    /// Cancels a gRPC call or stream.
    fn proxy_grpc_cancel(token: u32);
    /// Closes a gRPC call or stream.
    fn proxy_grpc_close(token: u32);
}
