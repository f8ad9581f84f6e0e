//! Unary gRPC calls from a stream, over the HTTP streams Envoy's dynamic-module ABI lets a
//! stream start: the request is gRPC's wire form (`POST /service/method`, `content-type:
//! application/grpc`, `te: trailers`, one length-prefixed message), and the answer is read
//! back from the response's headers, body and trailers as Envoy's gRPC client reads it.
//! gRPC streams (`proxy_grpc_stream`) are not mapped: they answer `Unimplemented`.

use super::*;

/// A call in flight: the stream that made it, Envoy's HTTP stream, the SDK's token, and
/// what has arrived.
pub(in crate::runtime::dynamic_module) struct GrpcCall {
    filter: FilterEnvoyPtr,
    stream_id: u64,
    token: u32,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
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
        let Some(filter) = self.filter() else {
            return UNIMPLEMENTED;
        };
        let Some(metadata) = owned_pairs(call.metadata) else {
            return BAD_ARGUMENT;
        };
        let Ok(length) = u32::try_from(call.message.len()) else {
            return BAD_ARGUMENT;
        };
        let path = [b"/", call.service, b"/", call.method].concat();
        let fixed: [(&[u8], &[u8]); 5] = [
            (b":method", b"POST"),
            (b":path", &path),
            (b":authority", call.upstream),
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
        // One message: not compressed, its length, the bytes.
        let mut body = Vec::with_capacity(5 + call.message.len());
        body.push(0);
        body.extend_from_slice(&length.to_be_bytes());
        body.extend_from_slice(call.message);
        let mut stream_id = 0u64;
        let started = envoy!(http_filter_start_http_stream(
            filter,
            &mut stream_id,
            ModuleBuffer::of(call.upstream),
            headers.as_mut_ptr(),
            headers.len(),
            ModuleBuffer::of(&body),
            true,
            u64::from(call.timeout_ms)
        ));
        match started {
            Some(dm::callout_init::SUCCESS) => {
                let token = self.next_token.get();
                self.next_token.set(token.wrapping_add(1).max(1));
                self.grpc_calls.borrow_mut().push(GrpcCall {
                    filter,
                    stream_id,
                    token,
                    headers: Vec::new(),
                    body: Vec::new(),
                    trailers: Vec::new(),
                });
                *call.return_token = token;
                OK
            }
            Some(
                dm::callout_init::CLUSTER_NOT_FOUND | dm::callout_init::MISSING_REQUIRED_HEADERS,
            ) => BAD_ARGUMENT,
            Some(_) => INTERNAL_FAILURE,
            None => UNIMPLEMENTED,
        }
    }

    fn proxy_grpc_cancel(&self, call: proxy_grpc_cancel::Args<'_>) -> u32 {
        let mut calls = self.grpc_calls.borrow_mut();
        let Some(at) = calls.iter().position(|c| c.token == call.token) else {
            return NOT_FOUND;
        };
        let cancelled = calls.swap_remove(at);
        drop(calls);
        envoy!(http_filter_reset_http_stream(
            cancelled.filter,
            cancelled.stream_id
        ));
        OK
    }
}

impl NativeHost {
    /// What arrived on Envoy's HTTP stream `stream_id` of stream `filter`, if it is a gRPC
    /// call's: `record` adds it.
    pub(in crate::runtime::dynamic_module) fn grpc_arrived(
        &self,
        filter: FilterEnvoyPtr,
        stream_id: u64,
        record: impl FnOnce(&mut Vec<(Vec<u8>, Vec<u8>)>, &mut Vec<u8>, &mut Vec<(Vec<u8>, Vec<u8>)>),
    ) {
        let mut calls = self.grpc_calls.borrow_mut();
        if let Some(call) = calls
            .iter_mut()
            .find(|c| c.filter == filter && c.stream_id == stream_id)
        {
            record(&mut call.headers, &mut call.body, &mut call.trailers);
        }
    }

    /// The gRPC call on Envoy's HTTP stream `stream_id` of stream `filter` ended (`reset`
    /// if Envoy reset it): its token, and the response message or the status it failed
    /// with (code and message), as Envoy's gRPC client reads a response.
    pub(in crate::runtime::dynamic_module) fn finish_grpc(
        &self,
        filter: FilterEnvoyPtr,
        stream_id: u64,
        reset: bool,
    ) -> Option<(u32, GrpcOutcome)> {
        let call = {
            let mut calls = self.grpc_calls.borrow_mut();
            let at = calls
                .iter()
                .position(|c| c.filter == filter && c.stream_id == stream_id)?;
            calls.swap_remove(at)
        };
        Some((call.token, outcome(&call, reset)))
    }

    /// Forgets the gRPC calls of stream `filter` (Envoy resets them with the stream).
    pub(in crate::runtime::dynamic_module) fn forget_grpc(&self, filter: FilterEnvoyPtr) {
        self.grpc_calls.borrow_mut().retain(|c| c.filter != filter);
    }
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
            headers: own(headers),
            body: body.to_vec(),
            trailers: own(trailers),
        }
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
