//! Byte buffers: bodies, configurations, callout responses.

use super::*;

impl BufferHost for EmulatorHost {
    fn proxy_get_buffer_bytes(&self, call: proxy_get_buffer_bytes::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(buffer) = state.buffer(call.buffer_type) else {
            return NOT_FOUND;
        };
        if call.start > buffer.len() {
            return BAD_ARGUMENT;
        }
        let end = call.start.saturating_add(call.max_size).min(buffer.len());
        *call.return_data = buffer[call.start..end].to_vec();
        OK
    }

    fn proxy_set_buffer_bytes(&self, call: proxy_set_buffer_bytes::Args<'_>) -> u32 {
        // Only bodies and connection data can be written.
        let kind = BufferType::from_raw(call.buffer_type);
        if !matches!(
            kind,
            Some(
                BufferType::HttpRequestBody
                    | BufferType::HttpResponseBody
                    | BufferType::DownstreamData
                    | BufferType::UpstreamData
            )
        ) {
            return BAD_ARGUMENT;
        }
        let mut state = self.state.borrow_mut();
        let Some(buffer) = state.buffer(call.buffer_type) else {
            return NOT_FOUND;
        };
        // As Envoy: from the start, the first `size` bytes are replaced (`size` 0
        // prepends); from the end or past it, the data is appended; anything else is refused.
        if call.start == 0 {
            let end = call.size.min(buffer.len());
            buffer.splice(..end, call.data.iter().copied());
        } else if call.start >= buffer.len() {
            buffer.extend_from_slice(call.data);
        } else {
            return BAD_ARGUMENT;
        }
        OK
    }

    fn proxy_get_buffer_status(&self, call: proxy_get_buffer_status::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(buffer) = state.buffer(call.buffer_type) else {
            return NOT_FOUND;
        };
        *call.return_size = buffer.len();
        *call.return_flags = 0;
        OK
    }
}
