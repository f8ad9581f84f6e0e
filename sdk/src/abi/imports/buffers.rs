//! Byte buffers: bodies, callout bodies, configurations.

hostcalls! {
    /// Host side of byte buffers.
    trait BufferHost;
    /// Returns up to `max_size` bytes from `start` of buffer `buffer_type`, in memory the
    /// host allocated through `proxy_on_memory_allocate`.
    fn proxy_get_buffer_bytes(buffer_type: u32, start: usize, max_size: usize, return_data: &mut Vec<u8>);
    /// Replaces `size` bytes from `start` of buffer `buffer_type` with the given bytes.
    fn proxy_set_buffer_bytes(buffer_type: u32, start: usize, size: usize, data: &[u8]);
    /// Writes the size of buffer `buffer_type`.
    fn proxy_get_buffer_status(buffer_type: u32, return_size: &mut usize, return_flags: &mut u32);
}
