//! HTTP and gRPC callouts.

use super::*;

impl HttpCallHost for EmulatorHost {
    unsafe fn proxy_http_call(
        &self,
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
    ) -> u32 {
        let upstream =
            // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
            String::from_utf8_lossy(unsafe { bytes(upstream_data, upstream_size) }).into_owned();
        let (Some(headers), Some(trailers)) = (
            // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
            decode_pairs(unsafe { bytes(headers_data, headers_size) }),
            // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
            decode_pairs(unsafe { bytes(trailers_data, trailers_size) }),
        ) else {
            return BAD_ARGUMENT;
        };
        // Envoy refuses a callout without these pseudo-headers.
        let has = |name: &[u8]| headers.iter().any(|(k, _)| k.as_slice() == name);
        if upstream.is_empty() || !has(b":authority") || !has(b":method") || !has(b":path") {
            return BAD_ARGUMENT;
        }
        let mut state = self.state.borrow_mut();
        let token = state.next_token;
        state.next_token += 1;
        let context_id = state.root_of(state.effective_context);
        state.http_calls.push(HttpCall {
            token,
            context_id,
            upstream,
            headers,
            // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
            body: unsafe { bytes(body_data, body_size) }.to_vec(),
            trailers,
            timeout_ms,
        });
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_token = token };
        OK
    }
}

impl EmulatorHost {
    #[allow(clippy::too_many_arguments)]
    unsafe fn open_grpc(
        &self,
        upstream: (*const u8, usize),
        service: (*const u8, usize),
        method: (*const u8, usize),
        metadata: (*const u8, usize),
        message: Option<Vec<u8>>,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32 {
        let text = |(data, size): (*const u8, usize)| {
            // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
            String::from_utf8_lossy(unsafe { bytes(data, size) }).into_owned()
        };
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let Some(metadata) = decode_pairs(unsafe { bytes(metadata.0, metadata.1) }) else {
            return BAD_ARGUMENT;
        };
        let upstream = text(upstream);
        if upstream.is_empty() {
            return Status::ParseFailure.raw();
        }
        let mut state = self.state.borrow_mut();
        let token = state.next_token;
        state.next_token += 1;
        let context_id = state.root_of(state.effective_context);
        state.grpc_calls.push(GrpcCall {
            token,
            context_id,
            upstream,
            service: text(service),
            method: text(method),
            metadata,
            messages: message.into_iter().collect(),
            timeout_ms,
            closed_by_filter: false,
        });
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_token = token };
        OK
    }

    fn close_grpc(&self, token: u32) -> u32 {
        let mut state = self.state.borrow_mut();
        match state.grpc_calls.iter_mut().find(|c| c.token == token) {
            Some(call) => {
                call.closed_by_filter = true;
                OK
            }
            None => NOT_FOUND,
        }
    }
}

impl GrpcHost for EmulatorHost {
    unsafe fn proxy_grpc_call(
        &self,
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
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let message = unsafe { bytes(message_data, message_size) }.to_vec();
        // SAFETY: the arguments are this call's own, under the same contract.
        unsafe {
            self.open_grpc(
                (upstream_data, upstream_size),
                (service_data, service_size),
                (method_data, method_size),
                (metadata_data, metadata_size),
                Some(message),
                timeout_ms,
                return_token,
            )
        }
    }

    unsafe fn proxy_grpc_stream(
        &self,
        upstream_data: *const u8,
        upstream_size: usize,
        service_data: *const u8,
        service_size: usize,
        method_data: *const u8,
        method_size: usize,
        metadata_data: *const u8,
        metadata_size: usize,
        return_token: *mut u32,
    ) -> u32 {
        // SAFETY: the arguments are this call's own, under the same contract.
        unsafe {
            self.open_grpc(
                (upstream_data, upstream_size),
                (service_data, service_size),
                (method_data, method_size),
                (metadata_data, metadata_size),
                None,
                0,
                return_token,
            )
        }
    }

    unsafe fn proxy_grpc_send(
        &self,
        token: u32,
        message_data: *const u8,
        message_size: usize,
        _end_stream: u32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let message = unsafe { bytes(message_data, message_size) }.to_vec();
        let mut state = self.state.borrow_mut();
        match state.grpc_calls.iter_mut().find(|c| c.token == token) {
            Some(call) => {
                call.messages.push(message);
                OK
            }
            None => NOT_FOUND,
        }
    }

    unsafe fn proxy_grpc_cancel(&self, token: u32) -> u32 {
        self.close_grpc(token)
    }

    unsafe fn proxy_grpc_close(&self, token: u32) -> u32 {
        self.close_grpc(token)
    }
}
