//! Envoy's dynamic-module event hooks that answer what a stream started: its HTTP
//! callouts, and its gRPC calls and streams (HTTP streams Envoy started for it), each
//! delivered to the stream's context as the proxy-wasm exports a Wasm host would call
//! (`proxy_on_http_call_response`, `proxy_on_grpc_receive`, `proxy_on_grpc_close`, a
//! stream's metadata hooks).

use super::WORKER;
use super::Worker;
use super::hooks::{barrier, stream_of};
use super::host::{Finished, NativeHost, Scope};
use crate::abi::dynamic_module::{
    EnvoyBuffer, EnvoyHeader, FilterEnvoyPtr, FilterModulePtr, callout_result,
};
use crate::runtime::exports::callouts;

/// A callout the stream made ended: with a response, or with `result`'s failure.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the ABI's arity
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    callout_id: u64,
    result: u32,
    headers: *const EnvoyHeader,
    header_count: usize,
    chunks: *const EnvoyBuffer,
    chunk_count: usize,
) {
    let raw = RawAnswer::new(result, (headers, header_count), (chunks, chunk_count));
    answer_stream(filter, module, |worker, context, scope| {
        // SAFETY: Envoy's arrays, valid during this hook.
        let (token, header_count, body_size) =
            unsafe { take_answer(&worker.host, filter, callout_id, raw) }?;
        let delivered = worker.run("proxy_on_http_call_response", scope, || {
            callouts::proxy_on_http_call_response(context, token, header_count, body_size, 0);
        });
        Some(delivered.is_some())
    });
}

/// Runs `deliver` for stream `module` behind the barrier: it takes an answer from the host
/// and hands it to the stream's context (given its id and scope), saying whether that went
/// well, or `None` when the answer is not the stream's. A delivery that failed answers
/// the stream as a failed module does.
fn answer_stream(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    deliver: impl FnOnce(&Worker, u32, Scope) -> Option<bool>,
) {
    // SAFETY: Envoy passes the pointer `filter_new` returned, until `destroy`.
    let Some(stream) = (unsafe { stream_of(module) }) else {
        return;
    };
    stream.hold();
    let fallback = || {
        if !stream.answered.get() {
            stream.answer_failed();
        }
    };
    barrier(fallback, || {
        WORKER.with(|worker| {
            let scope = stream.scope;
            let Some(delivered) = deliver(worker, stream.context_id, scope) else {
                return;
            };
            worker.host.clear_answer();
            // A handler's local reply may have ended the stream: Envoy's object for it is
            // not to be called any more.
            if stream.ended() {
                return;
            }
            worker.host.ticks.ran_hook(filter);
            if !delivered && !stream.answered.get() {
                stream.answer_failed();
            }
        });
    });
    // SAFETY: Envoy's object for the stream, in one of its hooks (see above).
    unsafe { stream.let_go_hold() };
}

/// A callout's end as Envoy hands it over: its result, and the response's headers and
/// body slices (null and 0 for a failure).
#[derive(Clone, Copy)]
pub(super) struct RawAnswer {
    pub(super) result: u32,
    pub(super) headers: *const EnvoyHeader,
    pub(super) header_count: usize,
    pub(super) chunks: *const EnvoyBuffer,
    pub(super) chunk_count: usize,
}

impl RawAnswer {
    /// The answer of hook arguments: the result, the headers and the body slices.
    pub(super) fn new(
        result: u32,
        (headers, header_count): (*const EnvoyHeader, usize),
        (chunks, chunk_count): (*const EnvoyBuffer, usize),
    ) -> RawAnswer {
        RawAnswer {
            result,
            headers,
            header_count,
            chunks,
            chunk_count,
        }
    }
}

/// Takes callout `callout_id` of `key` (a stream's filter, or a service's configuration)
/// from the host and holds its answer: the SDK's token, the header count and the body
/// size to tell the runtime; `None` for a callout the host does not know.
///
/// # Safety
/// `raw`'s arrays are Envoy's, valid during the current hook.
pub(super) unsafe fn take_answer(
    host: &NativeHost,
    key: FilterEnvoyPtr,
    callout_id: u64,
    raw: RawAnswer,
) -> Option<(u32, usize, usize)> {
    let token = host.take_callout(key, callout_id)?;
    // SAFETY: the caller's contract.
    let (header_count, body_size) = unsafe { hold_answer(host, raw) };
    Some((token, header_count, body_size))
}

/// Holds a callout's answer for the handler that reads it; the header count and body size
/// to tell the runtime (none for a failure).
///
/// # Safety
/// `raw`'s arrays are null or Envoy's, valid during the current hook.
unsafe fn hold_answer(host: &NativeHost, raw: RawAnswer) -> (usize, usize) {
    let RawAnswer {
        result,
        headers,
        header_count,
        chunks,
        chunk_count,
    } = raw;
    // SAFETY: the caller's contract.
    let (headers, chunks) = unsafe {
        (
            slice_of(headers, header_count),
            slice_of(chunks, chunk_count),
        )
    };
    // SAFETY: as the caller promises.
    let (headers, body) = unsafe { (owned_headers(headers), joined(chunks)) };
    let failure = match result {
        callout_result::SUCCESS => None,
        callout_result::RESET => Some("reset".to_owned()),
        callout_result::EXCEED_RESPONSE_BUFFER_LIMIT => {
            Some("the response exceeded the buffer limit".to_owned())
        }
        _ => Some("failed".to_owned()),
    };
    let counts = if failure.is_some() {
        (0, 0)
    } else {
        (headers.len().max(1), body.len())
    };
    host.set_answer(headers, body, failure);
    counts
}

/// Envoy's headers, copied.
///
/// # Safety
/// Each header's bytes are Envoy's, valid during the current hook.
unsafe fn owned_headers(headers: &[EnvoyHeader]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let copy = |ptr: *const u8, len: usize| {
        // SAFETY: the caller's contract.
        unsafe { crate::abi::native::input(ptr, len) }.to_vec()
    };
    headers
        .iter()
        .map(|h| {
            (
                copy(h.key_ptr, h.key_length),
                copy(h.value_ptr, h.value_length),
            )
        })
        .collect()
}

/// Envoy's slices, joined into one copy.
///
/// # Safety
/// Each slice's bytes are Envoy's, valid during the current hook.
unsafe fn joined(chunks: &[EnvoyBuffer]) -> Vec<u8> {
    let mut bytes = Vec::new();
    // SAFETY: the caller's contract.
    unsafe { append(&mut bytes, chunks) };
    bytes
}

/// Appends Envoy's slices to `bytes` (one copy), room for all of them reserved first.
///
/// # Safety
/// Each slice's bytes are Envoy's, valid during the current hook.
unsafe fn append(bytes: &mut Vec<u8>, chunks: &[EnvoyBuffer]) {
    bytes.reserve(chunks.iter().map(|c| c.length).sum());
    for chunk in chunks {
        // SAFETY: the caller's contract.
        bytes.extend_from_slice(unsafe { crate::abi::native::input(chunk.ptr, chunk.length) });
    }
}

/// `count` items at `items` (none for a null pointer).
///
/// # Safety
/// A non-null `items` must point to `count` initialized items, valid for `'a`.
unsafe fn slice_of<'a, T>(items: *const T, count: usize) -> &'a [T] {
    if items.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(items, count) }
    }
}

/// The response headers of an HTTP stream the stream started: a gRPC call's (kept for its
/// end) or a gRPC stream's (its initial metadata, delivered now too).
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    stream_id: u64,
    headers: *const EnvoyHeader,
    header_count: usize,
    _end_stream: bool,
) {
    // SAFETY: Envoy's array, valid during this hook.
    let headers = unsafe { owned_headers(slice_of(headers, header_count)) };
    if let Some(token) = grpc_arrived(filter, module, stream_id, |h, _, _| *h = headers) {
        stream_event(filter, module, (stream_id, token), Arrived::Metadata);
    }
}

/// Response bytes of an HTTP stream the stream started.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    stream_id: u64,
    data: *const EnvoyBuffer,
    data_count: usize,
    _end_stream: bool,
) {
    // SAFETY: Envoy's array, valid during this hook (which the closure runs in).
    let chunks = unsafe { slice_of(data, data_count) };
    let token = grpc_arrived(filter, module, stream_id, |_, body, _| {
        // SAFETY: as above: the slices are Envoy's, valid during this hook.
        unsafe { append(body, chunks) }
    });
    if let Some(token) = token {
        stream_event(filter, module, (stream_id, token), Arrived::Data);
    }
}

/// The response trailers of an HTTP stream the stream started.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    stream_id: u64,
    trailers: *const EnvoyHeader,
    trailer_count: usize,
) {
    // SAFETY: Envoy's array, valid during this hook.
    let trailers = unsafe { owned_headers(slice_of(trailers, trailer_count)) };
    if let Some(token) = grpc_arrived(filter, module, stream_id, |_, _, t| *t = trailers) {
        stream_event(filter, module, (stream_id, token), Arrived::Trailers);
    }
}

/// An HTTP stream the stream started ended: the gRPC call's answer goes to the filter.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    stream_id: u64,
) {
    grpc_finished(filter, module, stream_id, false);
}

/// An HTTP stream the stream started was reset: the gRPC call failed.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    stream_id: u64,
    _reason: u32,
) {
    grpc_finished(filter, module, stream_id, true);
}

/// Records what arrived on a gRPC call's HTTP stream; the token of a gRPC stream whose
/// events are to be delivered now (see `NativeHost::grpc_arrived`).
fn grpc_arrived(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    stream_id: u64,
    record: impl FnOnce(&mut Vec<(Vec<u8>, Vec<u8>)>, &mut Vec<u8>, &mut Vec<(Vec<u8>, Vec<u8>)>),
) -> Option<u32> {
    // SAFETY: Envoy passes the pointer `filter_new` returned, until `destroy`.
    unsafe { stream_of(module) }?;
    barrier(
        || None,
        || WORKER.with(|worker| worker.host.grpc_arrived(filter, stream_id, record)),
    )
}

/// Delivers `list` to gRPC stream `token` of stream `context` as its initial metadata, or
/// its trailing metadata (`trailing`); `None` if the export could not run.
fn deliver_metadata(
    worker: &Worker,
    scope: Scope,
    (context, token): (u32, u32),
    list: Vec<(Vec<u8>, Vec<u8>)>,
    trailing: bool,
) -> Option<()> {
    let count = list.len();
    worker.host.set_answer(list, Vec::new(), None);
    if trailing {
        worker.run("proxy_on_grpc_receive_trailing_metadata", scope, || {
            callouts::proxy_on_grpc_receive_trailing_metadata(context, token, count);
        })
    } else {
        worker.run("proxy_on_grpc_receive_initial_metadata", scope, || {
            callouts::proxy_on_grpc_receive_initial_metadata(context, token, count);
        })
    }
}

/// What arrived on a gRPC stream, for its filter.
enum Arrived {
    /// The response headers: the initial metadata.
    Metadata,
    /// Body bytes: the whole messages among them.
    Data,
    /// The trailers: the trailing metadata.
    Trailers,
}

/// Delivers what arrived on Envoy's HTTP stream `stream_id`, which carries gRPC stream
/// `token`, to the filter that opened it, as a Wasm host delivers a stream's events
/// (`proxy_on_grpc_receive_initial_metadata`, `proxy_on_grpc_receive` for each whole
/// message, `proxy_on_grpc_receive_trailing_metadata`).
fn stream_event(
    filter: FilterEnvoyPtr,
    module: FilterModulePtr,
    (stream_id, token): (u64, u32),
    arrived: Arrived,
) {
    answer_stream(filter, module, |worker, context, scope| {
        let host = &worker.host;
        let ran = match arrived {
            Arrived::Metadata => {
                let list = host.grpc_metadata(filter, stream_id, false);
                deliver_metadata(worker, scope, (context, token), list, false)
            }
            Arrived::Trailers => {
                let list = host.grpc_metadata(filter, stream_id, true);
                deliver_metadata(worker, scope, (context, token), list, true)
            }
            // One message at a time: the handler may cancel the stream between two.
            Arrived::Data => loop {
                match host.next_grpc_message(filter, stream_id) {
                    None => break Some(()),
                    Some(Ok(message)) => {
                        let size = message.len();
                        host.set_answer(Vec::new(), message, None);
                        let ran = worker.run("proxy_on_grpc_receive", scope, || {
                            callouts::proxy_on_grpc_receive(context, token, size);
                        });
                        host.clear_answer();
                        if ran.is_none() {
                            break None;
                        }
                    }
                    Some(Err(())) => {
                        // Envoy's gRPC client ends such a stream: INTERNAL.
                        host.cancel_grpc(token);
                        let why = "a compressed or malformed message".to_owned();
                        host.set_answer(Vec::new(), Vec::new(), Some(why));
                        let internal = crate::grpc::GrpcStatus::Internal.code();
                        break worker.run("proxy_on_grpc_close", scope, || {
                            callouts::proxy_on_grpc_close(context, token, internal);
                        });
                    }
                }
            },
        };
        Some(ran.is_some())
    });
}

/// Delivers a gRPC call's end to the stream's filter: the message
/// (`proxy_on_grpc_receive`), or the failure (`proxy_on_grpc_close` with its status).
fn grpc_finished(filter: FilterEnvoyPtr, module: FilterModulePtr, stream_id: u64, reset: bool) {
    answer_stream(filter, module, |worker, context, scope| {
        let (token, finished, outcome) = worker.host.finish_grpc(filter, stream_id, reset)?;
        if finished == (Finished::Stream { trailers: true }) {
            let ran = deliver_metadata(worker, scope, (context, token), Vec::new(), true);
            worker.host.clear_answer();
            if ran.is_none() {
                return Some(false);
            }
        }
        let stream = finished != Finished::Call;
        let delivered = match outcome {
            // A stream's messages went as they arrived: it closes with OK.
            Ok(_) if stream => {
                worker.host.set_answer(Vec::new(), Vec::new(), None);
                worker.run("proxy_on_grpc_close", scope, || {
                    callouts::proxy_on_grpc_close(context, token, 0);
                })
            }
            Ok(message) => {
                let size = message.len();
                worker.host.set_answer(Vec::new(), message, None);
                worker.run("proxy_on_grpc_receive", scope, || {
                    callouts::proxy_on_grpc_receive(context, token, size);
                })
            }
            Err((code, message)) => {
                worker
                    .host
                    .set_answer(Vec::new(), Vec::new(), Some(message));
                worker.run("proxy_on_grpc_close", scope, || {
                    callouts::proxy_on_grpc_close(context, token, code);
                })
            }
        };
        Some(delivered.is_some())
    });
}
