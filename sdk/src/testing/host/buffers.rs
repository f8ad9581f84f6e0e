//! Byte buffers: bodies, configurations, callout responses.

use super::*;

impl BufferHost for EmulatorHost {
    unsafe fn proxy_get_buffer_bytes(
        &self,
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(buffer) = state.buffer(buffer_type) else {
            return NOT_FOUND;
        };
        if start > buffer.len() {
            return BAD_ARGUMENT;
        }
        let end = start.saturating_add(max_size).min(buffer.len());
        let chunk = buffer[start..end].to_vec();
        drop(state);
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
        unsafe { give(&chunk, return_data, return_size) };
        OK
    }

    unsafe fn proxy_set_buffer_bytes(
        &self,
        buffer_type: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> u32 {
        // Only bodies can be written.
        let kind = BufferType::from_raw(buffer_type);
        if !matches!(
            kind,
            Some(BufferType::HttpRequestBody | BufferType::HttpResponseBody)
        ) {
            return BAD_ARGUMENT;
        }
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let value = unsafe { bytes(data, data_size) }.to_vec();
        let mut state = self.state.borrow_mut();
        let Some(buffer) = state.buffer(buffer_type) else {
            return NOT_FOUND;
        };
        let start = start.min(buffer.len());
        let end = start.saturating_add(size).min(buffer.len());
        buffer.splice(start..end, value);
        OK
    }

    unsafe fn proxy_get_buffer_status(
        &self,
        buffer_type: u32,
        return_size: *mut usize,
        return_flags: *mut u32,
    ) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(buffer) = state.buffer(buffer_type) else {
            return NOT_FOUND;
        };
        // SAFETY: the out-params point to the caller's locals, valid for one write each.
        unsafe {
            *return_size = buffer.len();
            *return_flags = 0;
        }
        OK
    }
}
