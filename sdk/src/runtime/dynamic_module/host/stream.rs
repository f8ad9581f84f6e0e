//! The stream: resuming, resetting, answering locally; a callout's status. A connection:
//! resuming, closing.

use super::connection::Deferred;
use super::*;

impl StreamHost for NativeHost {
    fn proxy_continue_stream(&self, call: proxy_continue_stream::Args<'_>) -> u32 {
        match StreamType::from_raw(call.stream_type) {
            Some(StreamType::Downstream) => {
                return self.act_on_connection(Deferred::ContinueReading);
            }
            // As Envoy answers a Wasm network filter: only the client's side resumes.
            Some(StreamType::Upstream) => return UNIMPLEMENTED,
            _ => {}
        }
        let Some(filter) = self.filter() else {
            return NOT_FOUND;
        };
        let resumed = match StreamType::from_raw(call.stream_type) {
            Some(StreamType::HttpRequest) => envoy!(http_filter_continue_decoding(filter)),
            Some(StreamType::HttpResponse) => envoy!(http_filter_continue_encoding(filter)),
            Some(_) => return UNIMPLEMENTED,
            None => return BAD_ARGUMENT,
        };
        if resumed.is_some() { OK } else { UNIMPLEMENTED }
    }

    fn proxy_close_stream(&self, call: proxy_close_stream::Args<'_>) -> u32 {
        match StreamType::from_raw(call.stream_type) {
            // A network filter sits on the downstream connection: either side closes it.
            Some(StreamType::Downstream | StreamType::Upstream) => {
                return self.act_on_connection(Deferred::Close);
            }
            Some(_) => {}
            None => return BAD_ARGUMENT,
        }
        let Some(filter) = self.filter() else {
            return NOT_FOUND;
        };
        let reset = envoy!(http_filter_reset_stream(
            filter,
            dm::reset_reason::LOCAL_RESET,
            ModuleBuffer::of(b"")
        ));
        if reset.is_some() { OK } else { UNIMPLEMENTED }
    }

    fn proxy_send_local_response(&self, call: proxy_send_local_response::Args<'_>) -> u32 {
        let Some(filter) = self.filter() else {
            return NOT_FOUND;
        };
        let Some(mut headers) = owned_pairs(call.headers) else {
            return BAD_ARGUMENT;
        };
        if call.grpc_status >= 0 {
            headers.push((
                b"grpc-status".to_vec(),
                call.grpc_status.to_string().into_bytes(),
            ));
        }
        let mut module_headers: Vec<ModuleHeader> = headers
            .iter()
            .map(|(key, value)| ModuleHeader::of(key, value))
            .collect();
        let sent = envoy!(http_send_response(
            filter,
            call.status_code,
            module_headers.as_mut_ptr(),
            module_headers.len(),
            ModuleBuffer::of(call.body),
            ModuleBuffer::of(call.details)
        ));
        if sent.is_some() { OK } else { UNIMPLEMENTED }
    }

    fn proxy_get_status(&self, call: proxy_get_status::Args<'_>) -> u32 {
        let answer = self.answer.borrow();
        let Some(answer) = answer.as_ref() else {
            return NOT_FOUND;
        };
        *call.return_code = u32::from(answer.failure.is_some());
        *call.return_message = answer.failure.clone().unwrap_or_default().into_bytes();
        OK
    }
}
