//! The stream: continue, close, local replies.

use super::*;

impl StreamHost for EmulatorHost {
    fn proxy_continue_stream(&self, call: proxy_continue_stream::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        if let Some(connection) = state.connection() {
            // As Envoy for a network filter: the client's side resumes; the upstream's
            // cannot be; the HTTP directions are not there (a no-op).
            return match StreamType::from_raw(call.stream_type) {
                Some(StreamType::Downstream) => {
                    connection.resumed = true;
                    OK
                }
                Some(StreamType::Upstream) => Status::Unimplemented.raw(),
                Some(_) => OK,
                None => BAD_ARGUMENT,
            };
        }
        let Some(stream) = state.stream() else {
            return NOT_FOUND;
        };
        match StreamType::from_raw(call.stream_type) {
            Some(StreamType::HttpRequest) => stream.request.resumed = true,
            Some(StreamType::HttpResponse) => stream.response.resumed = true,
            // As in Envoy for an HTTP filter: the connection's streams are not its to drive.
            Some(_) => return Status::Unimplemented.raw(),
            None => return BAD_ARGUMENT,
        }
        OK
    }

    fn proxy_close_stream(&self, call: proxy_close_stream::Args<'_>) -> u32 {
        if StreamType::from_raw(call.stream_type).is_none() {
            return BAD_ARGUMENT;
        }
        let mut state = self.state.borrow_mut();
        if let Some(connection) = state.connection() {
            // Either side closes the one downstream connection a network filter sits on.
            let stream_type = StreamType::from_raw(call.stream_type);
            if matches!(
                stream_type,
                Some(StreamType::Downstream | StreamType::Upstream)
            ) {
                connection.close_requested = true;
            }
            return OK;
        }
        let Some(stream) = state.stream() else {
            return NOT_FOUND;
        };
        stream.reset = true;
        OK
    }

    fn proxy_send_local_response(&self, call: proxy_send_local_response::Args<'_>) -> u32 {
        let Some(headers) = decode_pairs(call.headers) else {
            return BAD_ARGUMENT;
        };
        let reply = SentReply {
            status: u16::try_from(call.status_code).unwrap_or(500),
            details: String::from_utf8_lossy(call.details).into_owned(),
            body: call.body.to_vec(),
            headers,
            grpc_status: (call.grpc_status >= 0).then_some(call.grpc_status),
        };
        let mut state = self.state.borrow_mut();
        let Some(stream) = state.stream() else {
            return NOT_FOUND;
        };
        stream.local_reply = Some(reply);
        OK
    }

    fn proxy_get_status(&self, call: proxy_get_status::Args<'_>) -> u32 {
        let (code, message) = self.state.borrow().callout.status.clone();
        *call.return_code = code;
        *call.return_message = message;
        OK
    }
}
