//! gRPC calls and streams from a stream, over the HTTP streams Envoy's dynamic-module ABI
//! lets a stream start: the request is gRPC's wire form (`POST /service/method`,
//! `content-type: application/grpc`, `te: trailers`, length-prefixed messages), and the
//! answer is read back from the response's headers, body and trailers as Envoy's gRPC
//! client reads it. A unary call's answer is delivered whole at its end; a stream's
//! metadata, messages and trailers as they arrive, then its close.

use super::*;

/// A call in flight: the stream that made it, Envoy's HTTP stream, the SDK's token, and
/// what has arrived.
pub(in crate::runtime::dynamic_module) struct GrpcCall {
    filter: FilterEnvoyPtr,
    stream_id: u64,
    token: u32,
    /// A gRPC stream (its events go to the filter as they arrive), not a unary call.
    stream: bool,
    /// The filter's side has ended (its last message, or its close).
    sent_last: bool,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What ended: a unary call, or a stream (`trailers`: whose empty trailing metadata is
/// still to be delivered before its close).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::runtime::dynamic_module) enum Finished {
    Call,
    Stream { trailers: bool },
}

impl GrpcCall {
    /// Whether the answer so far is gRPC's: no headers yet, or `:status` 200.
    fn answered_by_grpc(&self) -> bool {
        self.headers.is_empty()
            || self
                .headers
                .iter()
                .any(|(key, value)| key.as_slice() == b":status" && value.as_slice() == b"200")
    }
}

/// Whether `list` has a header `name`.
fn has(list: &[(Vec<u8>, Vec<u8>)], name: &[u8]) -> bool {
    list.iter().any(|(key, _)| key.as_slice() == name)
}

/// How a call ended: the response message, or the status it failed with (code, message).
pub(in crate::runtime::dynamic_module) type GrpcOutcome = Result<Vec<u8>, (u32, String)>;

/// gRPC's status codes the SDK gives a call that ended without one of the service's.
mod status {
    use crate::grpc::GrpcStatus;
    pub(super) const UNKNOWN: u32 = GrpcStatus::Unknown.code();
    pub(super) const PERMISSION_DENIED: u32 = GrpcStatus::PermissionDenied.code();
    pub(super) const UNIMPLEMENTED: u32 = GrpcStatus::Unimplemented.code();
    pub(super) const INTERNAL: u32 = GrpcStatus::Internal.code();
    pub(super) const UNAVAILABLE: u32 = GrpcStatus::Unavailable.code();
    pub(super) const UNAUTHENTICATED: u32 = GrpcStatus::Unauthenticated.code();
}

impl GrpcHost for NativeHost {
    fn proxy_grpc_call(&self, call: proxy_grpc_call::Args<'_>) -> u32 {
        let target = (call.upstream, call.service, call.method);
        let body = Some(call.message);
        let timeout = u64::from(call.timeout_ms);
        match self.start_grpc(target, call.metadata, body, timeout) {
            Ok(token) => {
                *call.return_token = token;
                OK
            }
            Err(status) => status,
        }
    }

    fn proxy_grpc_stream(&self, call: proxy_grpc_stream::Args<'_>) -> u32 {
        let target = (call.upstream, call.service, call.method);
        match self.start_grpc(target, call.metadata, None, 0) {
            Ok(token) => {
                *call.return_token = token;
                OK
            }
            Err(status) => status,
        }
    }

    fn proxy_grpc_send(&self, call: proxy_grpc_send::Args<'_>) -> u32 {
        let Some(framed) = frame(call.message) else {
            return BAD_ARGUMENT;
        };
        self.send_grpc(call.token, &framed, call.end_stream != 0)
    }

    fn proxy_grpc_close(&self, call: proxy_grpc_close::Args<'_>) -> u32 {
        // The filter's side ends (Envoy's `closeStream`); the service may still answer.
        match self.send_grpc(call.token, &[], true) {
            NOT_FOUND => NOT_FOUND,
            _ => OK,
        }
    }

    fn proxy_grpc_cancel(&self, call: proxy_grpc_cancel::Args<'_>) -> u32 {
        if self.cancel_grpc(call.token) {
            OK
        } else {
            NOT_FOUND
        }
    }
}

impl NativeHost {
    /// Starts a unary call (`message`: its one message, then the request ends) or a stream
    /// (`None`: the request stays open) of the current stream to `(cluster, service,
    /// method)`: the SDK's token for it, or the status Envoy's refusal maps to.
    fn start_grpc(
        &self,
        (cluster, service, method): (&[u8], &[u8], &[u8]),
        metadata: &[u8],
        message: Option<&[u8]>,
        timeout_ms: u64,
    ) -> Result<u32, u32> {
        let filter = self.filter().ok_or(UNIMPLEMENTED)?;
        let metadata = owned_pairs(metadata).ok_or(BAD_ARGUMENT)?;
        let body = match message {
            Some(message) => frame(message).ok_or(BAD_ARGUMENT)?,
            None => Vec::new(),
        };
        let path = [b"/", service, b"/", method].concat();
        let fixed: [(&[u8], &[u8]); 5] = [
            (b":method", b"POST"),
            (b":path", &path),
            (b":authority", cluster),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ];
        let mut headers: Vec<ModuleHeader> = fixed
            .iter()
            .map(|(key, value)| ModuleHeader::of(key, value))
            .chain(
                metadata
                    .iter()
                    .map(|(key, value)| ModuleHeader::of(key, value)),
            )
            .collect();
        let mut stream_id = 0u64;
        let unary = message.is_some();
        let started = envoy!(http_filter_start_http_stream(
            filter,
            &mut stream_id,
            ModuleBuffer::of(cluster),
            headers.as_mut_ptr(),
            headers.len(),
            ModuleBuffer::of(&body),
            unary,
            timeout_ms
        ));
        match started {
            Some(dm::callout_init::SUCCESS) => {
                let token = self.next_token.get();
                self.next_token.set(token.wrapping_add(1).max(1));
                self.grpc_calls.borrow_mut().push(GrpcCall {
                    filter,
                    stream_id,
                    token,
                    stream: !unary,
                    sent_last: unary,
                    headers: Vec::new(),
                    body: Vec::new(),
                    trailers: Vec::new(),
                });
                Ok(token)
            }
            Some(
                dm::callout_init::CLUSTER_NOT_FOUND | dm::callout_init::MISSING_REQUIRED_HEADERS,
            ) => Err(BAD_ARGUMENT),
            Some(_) => Err(INTERNAL_FAILURE),
            None => Err(UNIMPLEMENTED),
        }
    }

    /// Cancels call or stream `token`: forgotten, and Envoy's HTTP stream reset; whether
    /// there was one.
    pub(in crate::runtime::dynamic_module) fn cancel_grpc(&self, token: u32) -> bool {
        let mut calls = self.grpc_calls.borrow_mut();
        let Some(at) = calls.iter().position(|c| c.token == token) else {
            return false;
        };
        let cancelled = calls.swap_remove(at);
        drop(calls);
        envoy!(http_filter_reset_http_stream(
            cancelled.filter,
            cancelled.stream_id
        ));
        true
    }

    /// Sends `data` on gRPC stream `token` (`last`: the filter's side ends with it).
    fn send_grpc(&self, token: u32, data: &[u8], last: bool) -> u32 {
        let (filter, stream_id) = {
            let mut calls = self.grpc_calls.borrow_mut();
            let Some(call) = calls.iter_mut().find(|c| c.token == token && c.stream) else {
                return NOT_FOUND;
            };
            if call.sent_last {
                // Its side has ended: nothing more goes (a close after the last message
                // is already done).
                return if data.is_empty() { OK } else { BAD_ARGUMENT };
            }
            call.sent_last = last;
            (call.filter, call.stream_id)
        };
        match envoy!(http_stream_send_data(
            filter,
            stream_id,
            ModuleBuffer::of(data),
            last
        )) {
            Some(true) => OK,
            Some(false) => NOT_FOUND,
            None => UNIMPLEMENTED,
        }
    }

    /// A copy of what the gRPC stream on Envoy's HTTP stream `stream_id` of `filter`
    /// received as its headers (`trailers`: as its trailers), for delivery as metadata.
    pub(in crate::runtime::dynamic_module) fn grpc_metadata(
        &self,
        filter: FilterEnvoyPtr,
        stream_id: u64,
        trailers: bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.grpc_calls
            .borrow()
            .iter()
            .find(|c| c.filter == filter && c.stream_id == stream_id)
            .map(|c| if trailers { &c.trailers } else { &c.headers }.clone())
            .unwrap_or_default()
    }

    /// The next whole message that arrived on the gRPC stream on Envoy's HTTP stream
    /// `stream_id` of `filter`, taken out; `Err` for one that is compressed or malformed.
    pub(in crate::runtime::dynamic_module) fn next_grpc_message(
        &self,
        filter: FilterEnvoyPtr,
        stream_id: u64,
    ) -> Option<Result<Vec<u8>, ()>> {
        let mut calls = self.grpc_calls.borrow_mut();
        let call = calls
            .iter_mut()
            .find(|c| c.filter == filter && c.stream_id == stream_id && c.stream)
            .filter(|c| c.answered_by_grpc())?;
        let [flag, a, b, c, d, ..] = call.body[..] else {
            return None;
        };
        if flag != 0 {
            return Some(Err(()));
        }
        let end = 5 + u32::from_be_bytes([a, b, c, d]) as usize;
        if call.body.len() < end {
            return None;
        }
        let message = call.body[5..end].to_vec();
        call.body.drain(..end);
        Some(Ok(message))
    }

    /// What arrived on Envoy's HTTP stream `stream_id` of stream `filter`, if it is a gRPC
    /// call's: `record` adds it. The token of a gRPC stream (not a unary call) whose events
    /// are gRPC's to deliver now: not once its answer's HTTP status says it is not (its
    /// close then says what that status maps to, as Envoy's gRPC client says it, and its
    /// headers and body are no metadata or messages).
    pub(in crate::runtime::dynamic_module) fn grpc_arrived(
        &self,
        filter: FilterEnvoyPtr,
        stream_id: u64,
        record: impl FnOnce(&mut Vec<(Vec<u8>, Vec<u8>)>, &mut Vec<u8>, &mut Vec<(Vec<u8>, Vec<u8>)>),
    ) -> Option<u32> {
        let mut calls = self.grpc_calls.borrow_mut();
        let call = calls
            .iter_mut()
            .find(|c| c.filter == filter && c.stream_id == stream_id)?;
        record(&mut call.headers, &mut call.body, &mut call.trailers);
        (call.stream && call.answered_by_grpc()).then_some(call.token)
    }

    /// The gRPC call or stream on Envoy's HTTP stream `stream_id` of stream `filter` ended
    /// (`reset` if Envoy reset it): its token, whether it is a stream, and the response
    /// message (none for a stream) or the status it failed with (code and message), as
    /// Envoy's gRPC client reads a response.
    pub(in crate::runtime::dynamic_module) fn finish_grpc(
        &self,
        filter: FilterEnvoyPtr,
        stream_id: u64,
        reset: bool,
    ) -> Option<(u32, Finished, GrpcOutcome)> {
        let call = {
            let mut calls = self.grpc_calls.borrow_mut();
            let at = calls
                .iter()
                .position(|c| c.filter == filter && c.stream_id == stream_id)?;
            calls.swap_remove(at)
        };
        let finished = match (call.stream, reset) {
            (false, _) => Finished::Call,
            (true, true) => Finished::Stream { trailers: false },
            // Envoy's gRPC client ends a stream with its trailing metadata: empty when the
            // answer had none (no trailers, or an HTTP status that is not gRPC's).
            (true, false) => Finished::Stream {
                trailers: !(call.answered_by_grpc()
                    && (!call.trailers.is_empty() || has(&call.headers, b"grpc-status"))),
            },
        };
        Some((call.token, finished, outcome(&call, reset)))
    }

    /// Forgets the gRPC calls of stream `filter` (Envoy resets them with the stream).
    pub(in crate::runtime::dynamic_module) fn forget_grpc(&self, filter: FilterEnvoyPtr) {
        self.grpc_calls.borrow_mut().retain(|c| c.filter != filter);
    }
}

/// `message` as gRPC frames it: not compressed, its length, the bytes; `None` for one over
/// 4 GiB.
fn frame(message: &[u8]) -> Option<Vec<u8>> {
    let length = u32::try_from(message.len()).ok()?;
    let mut framed = Vec::with_capacity(5 + message.len());
    framed.push(0);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    Some(framed)
}

/// A finished call's response message, or the status it failed with.
fn outcome(call: &GrpcCall, reset: bool) -> GrpcOutcome {
    if reset {
        return Err((status::UNAVAILABLE, "the call was reset".into()));
    }
    let find = |list: &[(Vec<u8>, Vec<u8>)], name: &[u8]| {
        list.iter()
            .find(|(key, _)| key.as_slice() == name)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    };
    let http = find(&call.headers, b":status").and_then(|s| s.parse::<u16>().ok());
    if http != Some(200) {
        // As Envoy's gRPC client maps an HTTP status that is not gRPC's.
        let code = match http {
            Some(400) => status::INTERNAL,
            Some(401) => status::UNAUTHENTICATED,
            Some(403) => status::PERMISSION_DENIED,
            Some(404) => status::UNIMPLEMENTED,
            Some(429 | 502..=504) => status::UNAVAILABLE,
            _ => status::UNKNOWN,
        };
        return Err((code, format!("HTTP status {}", http.unwrap_or(0))));
    }
    // A trailers-only response carries its status in the headers.
    let ending = if call.trailers.is_empty() {
        &call.headers
    } else {
        &call.trailers
    };
    let code = match find(ending, b"grpc-status").map(|s| s.parse::<u32>()) {
        Some(Ok(code)) => code,
        _ => return Err((status::UNKNOWN, "no grpc-status".into())),
    };
    if code != 0 {
        return Err((code, find(ending, b"grpc-message").unwrap_or_default()));
    }
    if call.stream {
        // A stream's messages went as they arrived.
        return Ok(Vec::new());
    }
    match call.body.as_slice() {
        [0, a, b, c, d, rest @ ..] => {
            let length = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
            rest.get(..length)
                .map(<[u8]>::to_vec)
                .ok_or((status::INTERNAL, "a truncated message".into()))
        }
        [] => Ok(Vec::new()),
        _ => Err((status::INTERNAL, "a compressed or malformed message".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(headers: &[(&str, &str)], body: &[u8], trailers: &[(&str, &str)]) -> GrpcCall {
        let own = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        };
        GrpcCall {
            filter: std::ptr::null_mut(),
            stream_id: 1,
            token: 1,
            stream: false,
            sent_last: true,
            headers: own(headers),
            body: body.to_vec(),
            trailers: own(trailers),
        }
    }

    #[test]
    fn a_message_is_framed_as_grpc_frames_it() {
        assert_eq!(frame(b"abc"), Some(b"\0\0\0\0\x03abc".to_vec()));
        assert_eq!(frame(b""), Some(vec![0; 5]));
    }

    #[test]
    fn a_stream_closes_with_its_status_whatever_its_body_held() {
        let mut ok = call(&[(":status", "200")], b"\0\0\0", &[("grpc-status", "0")]);
        ok.stream = true;
        assert_eq!(outcome(&ok, false), Ok(Vec::new()));
        let mut failed = call(&[(":status", "200")], b"", &[("grpc-status", "14")]);
        failed.stream = true;
        assert_eq!(outcome(&failed, false).unwrap_err().0, 14);
    }

    #[test]
    fn a_message_with_status_0_is_the_answer() {
        let ok = call(
            &[(":status", "200")],
            b"\0\0\0\0\x03abc",
            &[("grpc-status", "0")],
        );
        assert_eq!(outcome(&ok, false), Ok(b"abc".to_vec()));
    }

    #[test]
    fn a_trailers_only_response_carries_its_status_in_the_headers() {
        let denied = call(
            &[
                (":status", "200"),
                ("grpc-status", "16"),
                ("grpc-message", "no token"),
            ],
            b"",
            &[],
        );
        assert_eq!(outcome(&denied, false), Err((16, "no token".into())));
    }

    #[test]
    fn http_statuses_reset_and_bad_frames_fail_as_envoy_reads_them() {
        let unavailable = call(&[(":status", "503")], b"", &[]);
        assert_eq!(
            outcome(&unavailable, false).unwrap_err().0,
            status::UNAVAILABLE
        );
        let missing = call(&[(":status", "404")], b"", &[]);
        assert_eq!(
            outcome(&missing, false).unwrap_err().0,
            status::UNIMPLEMENTED
        );
        let ok = call(
            &[(":status", "200")],
            b"\0\0\0\0\x01a",
            &[("grpc-status", "0")],
        );
        assert_eq!(outcome(&ok, true).unwrap_err().0, status::UNAVAILABLE);
        let truncated = call(
            &[(":status", "200")],
            b"\0\0\0\0\x09a",
            &[("grpc-status", "0")],
        );
        assert_eq!(outcome(&truncated, false).unwrap_err().0, status::INTERNAL);
        let compressed = call(
            &[(":status", "200")],
            b"\x01\0\0\0\x01a",
            &[("grpc-status", "0")],
        );
        assert_eq!(outcome(&compressed, false).unwrap_err().0, status::INTERNAL);
        let silent = call(&[(":status", "200")], b"", &[]);
        assert_eq!(outcome(&silent, false).unwrap_err().0, status::UNKNOWN);
    }
}
