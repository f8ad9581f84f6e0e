//! The stream: continue, close, local replies.

use super::*;

impl StreamHost for EmulatorHost {
    unsafe fn proxy_continue_stream(&self, stream_type: u32) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(stream) = state.stream() else {
            return NOT_FOUND;
        };
        match StreamType::from_raw(stream_type) {
            Some(StreamType::HttpRequest) => stream.request.resumed = true,
            Some(StreamType::HttpResponse) => stream.response.resumed = true,
            // As in Envoy for an HTTP filter: the connection's streams are not its to drive.
            Some(_) => return Status::Unimplemented.raw(),
            None => return BAD_ARGUMENT,
        }
        OK
    }

    unsafe fn proxy_close_stream(&self, stream_type: u32) -> u32 {
        if StreamType::from_raw(stream_type).is_none() {
            return BAD_ARGUMENT;
        }
        let mut state = self.state.borrow_mut();
        let Some(stream) = state.stream() else {
            return NOT_FOUND;
        };
        stream.reset = true;
        OK
    }

    unsafe fn proxy_send_local_response(
        &self,
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let Some(headers) = decode_pairs(unsafe { bytes(headers_data, headers_size) }) else {
            return BAD_ARGUMENT;
        };
        let reply = SentReply {
            status: u16::try_from(status_code).unwrap_or(500),
            // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
            details: String::from_utf8_lossy(unsafe { bytes(details_data, details_size) })
                .into_owned(),
            // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
            body: unsafe { bytes(body_data, body_size) }.to_vec(),
            headers,
            grpc_status: (grpc_status >= 0).then_some(grpc_status),
        };
        let mut state = self.state.borrow_mut();
        let Some(stream) = state.stream() else {
            return NOT_FOUND;
        };
        stream.local_reply = Some(reply);
        OK
    }

    unsafe fn proxy_get_status(
        &self,
        return_code: *mut u32,
        return_message_data: *mut *mut u8,
        return_message_size: *mut usize,
    ) -> u32 {
        let (code, message) = self.state.borrow().callout.status.clone();
        // SAFETY: the out-params point to the caller's locals, valid for writes.
        unsafe {
            *return_code = code;
            give(&message, return_message_data, return_message_size);
        }
        OK
    }
}
