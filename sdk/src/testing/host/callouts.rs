//! HTTP and gRPC callouts.

use super::*;

impl HttpCallHost for EmulatorHost {
    fn proxy_http_call(&self, call: proxy_http_call::Args<'_>) -> u32 {
        let upstream = String::from_utf8_lossy(call.upstream).into_owned();
        let (Some(headers), Some(trailers)) =
            (decode_pairs(call.headers), decode_pairs(call.trailers))
        else {
            return BAD_ARGUMENT;
        };
        // Envoy refuses a callout without these pseudo-headers.
        let has = |name: &[u8]| headers.iter().any(|(k, _)| k.as_slice() == name);
        if upstream.is_empty() || !has(b":authority") || !has(b":method") || !has(b":path") {
            return BAD_ARGUMENT;
        }
        let mut state = self.state.borrow_mut();
        let (token, context_id) = state.open_callout();
        state.http_calls.push(HttpCall {
            token,
            context_id,
            upstream,
            headers,
            body: call.body.to_vec(),
            trailers,
            timeout_ms: call.timeout_ms,
        });
        *call.return_token = token;
        OK
    }
}

impl GrpcHost for EmulatorHost {
    fn proxy_grpc_call(&self, call: proxy_grpc_call::Args<'_>) -> u32 {
        let target = [call.upstream, call.service, call.method, call.metadata];
        let message = Some(call.message.to_vec());
        self.open_grpc(target, message, call.timeout_ms, call.return_token)
    }

    fn proxy_grpc_stream(&self, call: proxy_grpc_stream::Args<'_>) -> u32 {
        let target = [call.upstream, call.service, call.method, call.metadata];
        self.open_grpc(target, None, 0, call.return_token)
    }

    fn proxy_grpc_send(&self, call: proxy_grpc_send::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        // As Envoy: only an open stream takes messages; a cancelled one is gone.
        match state
            .grpc_calls
            .iter_mut()
            .find(|c| c.token == call.token && !c.cancelled)
        {
            Some(grpc) if !grpc.stream => BAD_ARGUMENT,
            Some(grpc) => {
                grpc.messages.push(call.message.to_vec());
                grpc.half_closed |= call.end_stream != 0;
                OK
            }
            None => NOT_FOUND,
        }
    }

    fn proxy_grpc_cancel(&self, call: proxy_grpc_cancel::Args<'_>) -> u32 {
        self.end_grpc(call.token, |grpc| grpc.cancelled = true)
    }

    fn proxy_grpc_close(&self, call: proxy_grpc_close::Args<'_>) -> u32 {
        self.end_grpc(call.token, |grpc| grpc.half_closed = true)
    }
}

impl EmulatorHost {
    /// Opens a unary call (with its `message`) or a stream (without) to
    /// `[upstream, service, method, metadata]`.
    fn open_grpc(
        &self,
        [upstream, service, method, metadata]: [&[u8]; 4],
        message: Option<Vec<u8>>,
        timeout_ms: u32,
        return_token: &mut u32,
    ) -> u32 {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let Some(metadata) = decode_pairs(metadata) else {
            return BAD_ARGUMENT;
        };
        if upstream.is_empty() {
            return Status::ParseFailure.raw();
        }
        let mut state = self.state.borrow_mut();
        let (token, context_id) = state.open_callout();
        state.grpc_calls.push(GrpcCall {
            token,
            context_id,
            upstream: text(upstream),
            service: text(service),
            method: text(method),
            metadata,
            stream: message.is_none(),
            messages: message.into_iter().collect(),
            timeout_ms,
            half_closed: false,
            cancelled: false,
        });
        *return_token = token;
        OK
    }

    /// Cancels (or half-closes) call or stream `token`, as `end` says.
    fn end_grpc(&self, token: u32, end: impl FnOnce(&mut GrpcCall)) -> u32 {
        let mut state = self.state.borrow_mut();
        match state
            .grpc_calls
            .iter_mut()
            .find(|c| c.token == token && !c.cancelled)
        {
            Some(call) => {
                end(call);
                OK
            }
            None => NOT_FOUND,
        }
    }
}

impl State {
    /// A new callout's token and the plugin context it belongs to (Envoy makes callouts on
    /// the plugin's context, whichever stream asks).
    fn open_callout(&mut self) -> (u32, u32) {
        let token = self.next_token;
        self.next_token += 1;
        (token, self.root_of(self.effective_context))
    }
}
