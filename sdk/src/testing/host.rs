//! The host side of every ABI call, with Envoy's semantics, over per-emulator state.

use crate::abi::imports::{
    BufferHost, ContextHost, ForeignHost, GrpcHost, HeaderHost, HttpCallHost, LogHost, MetricsHost,
    PropertyHost, SharedDataHost, SharedQueueHost, StreamHost, TimeHost,
};
use crate::abi::{LogLevel, MetricType, Status, pairs};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};

pub(crate) type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One log line the filter wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Its level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
}

/// A local reply the filter sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentReply {
    /// HTTP status.
    pub status: u16,
    /// Response code details.
    pub details: String,
    /// Body.
    pub body: Vec<u8>,
    /// Headers the filter gave.
    pub headers: Pairs,
    /// gRPC status, if any.
    pub grpc_status: Option<i32>,
}

/// An HTTP callout the filter made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCall {
    /// Token the host returned.
    pub token: u32,
    /// The plugin context it was made on (Envoy makes callouts on the plugin's context and
    /// delivers the answer there, whichever stream asked).
    pub context_id: u32,
    /// Cluster name.
    pub upstream: String,
    /// Request headers.
    pub headers: Pairs,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: Pairs,
    /// Timeout in milliseconds.
    pub timeout_ms: u32,
}

/// A gRPC callout (unary call or stream) the filter made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcCall {
    /// Token the host returned.
    pub token: u32,
    /// The plugin context it was made on.
    pub context_id: u32,
    /// Cluster name.
    pub upstream: String,
    /// Service.
    pub service: String,
    /// Method.
    pub method: String,
    /// Initial metadata.
    pub metadata: Pairs,
    /// Messages sent (one for a unary call).
    pub messages: Vec<Vec<u8>>,
    /// Timeout in milliseconds (0 for streams).
    pub timeout_ms: u32,
    /// Whether the filter cancelled or closed it.
    pub closed_by_filter: bool,
}

/// A metric the filter defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metric {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: MetricType,
    /// Current value (for histograms: the last recorded value).
    pub value: u64,
    /// Every value recorded into a histogram.
    pub recorded: Vec<u64>,
}

/// State of one HTTP stream as the host sees it.
#[derive(Default, Debug)]
pub(crate) struct StreamState {
    pub request_headers: Pairs,
    pub request_trailers: Pairs,
    pub response_headers: Pairs,
    pub response_trailers: Pairs,
    pub request_body: Vec<u8>,
    pub response_body: Vec<u8>,
    pub local_reply: Option<SentReply>,
    pub resumed_request: bool,
    pub resumed_response: bool,
    pub reset: bool,
    /// Envoy lets a filter reach request headers only in `on_request_headers`, while the
    /// request is held there, and in `on_log`; likewise response headers.
    pub request_headers_open: bool,
    pub response_headers_open: bool,
}

/// What a callback delivering a callout answer may read (only on `owner`, the plugin
/// context that made the call, as in Envoy).
#[derive(Default, Debug)]
pub(crate) struct CalloutAnswer {
    pub owner: u32,
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub trailers: Pairs,
    pub status: (u32, Vec<u8>),
}

pub(crate) struct Queue {
    pub vm_id: String,
    pub name: String,
    pub owner: u32,
    pub items: VecDeque<Vec<u8>>,
}

/// A foreign function the host offers.
pub type ForeignFunction = Box<dyn FnMut(&[u8]) -> Result<Vec<u8>, Status>>;

pub(crate) struct State {
    pub log_level: LogLevel,
    pub logs: Vec<LogRecord>,
    pub effective_context: u32,
    pub streams: HashMap<u32, StreamState>,
    pub stream_roots: HashMap<u32, u32>,
    pub roots: Vec<u32>,
    /// Each plugin's name (its `plugin_name` and `plugin_root_id`), by root context.
    pub plugin_names: HashMap<u32, Vec<u8>>,
    pub plugin_configuration: Vec<u8>,
    pub vm_configuration: Vec<u8>,
    pub foreign_arguments: Vec<u8>,
    pub properties: BTreeMap<Vec<u8>, Vec<u8>>,
    pub properties_read: Vec<String>,
    pub properties_set: Vec<(String, Vec<u8>)>,
    pub now_nanos: u64,
    pub tick_periods: HashMap<u32, u32>,
    pub metrics: Vec<Metric>,
    pub shared_data: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    pub queues: Vec<Queue>,
    pub ready_queues: Vec<(u32, u32)>,
    pub vm_id: String,
    pub next_token: u32,
    pub http_calls: Vec<HttpCall>,
    pub grpc_calls: Vec<GrpcCall>,
    pub callout: CalloutAnswer,
    pub grpc_message: Vec<u8>,
    pub foreign: HashMap<String, ForeignFunction>,
    pub done_calls: u32,
}

impl Default for State {
    fn default() -> Self {
        State {
            log_level: LogLevel::Trace,
            logs: Vec::new(),
            effective_context: 0,
            streams: HashMap::new(),
            stream_roots: HashMap::new(),
            roots: Vec::new(),
            plugin_names: HashMap::new(),
            plugin_configuration: Vec::new(),
            vm_configuration: Vec::new(),
            foreign_arguments: Vec::new(),
            properties: BTreeMap::new(),
            properties_read: Vec::new(),
            properties_set: Vec::new(),
            // 2026-01-01T00:00:00Z: a fixed clock makes tests repeatable.
            now_nanos: 1_767_225_600_000_000_000,
            tick_periods: HashMap::new(),
            metrics: Vec::new(),
            shared_data: HashMap::new(),
            queues: Vec::new(),
            ready_queues: Vec::new(),
            vm_id: String::new(),
            next_token: 1,
            http_calls: Vec::new(),
            grpc_calls: Vec::new(),
            callout: CalloutAnswer::default(),
            grpc_message: Vec::new(),
            foreign: HashMap::new(),
            done_calls: 0,
        }
    }
}

/// The in-process host: implements the ABI's host functions over [`State`].
#[derive(Default)]
pub(crate) struct EmulatorHost {
    pub state: RefCell<State>,
}

const OK: u32 = Status::Ok.raw();
const NOT_FOUND: u32 = Status::NotFound.raw();
const BAD_ARGUMENT: u32 = Status::BadArgument.raw();

/// Reads guest memory the SDK passed in.
///
/// # Safety
/// `data` must be valid for `size` bytes (or `size` zero).
unsafe fn bytes<'a>(data: *const u8, size: usize) -> &'a [u8] {
    if size == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: the caller guarantees `data` is valid for `size` bytes (see # Safety).
        unsafe { std::slice::from_raw_parts(data, size) }
    }
}

/// Hands bytes to the guest the way Envoy does: memory from `proxy_on_memory_allocate`.
///
/// # Safety
/// The return pointers must be valid for writes.
unsafe fn give(value: &[u8], return_data: *mut *mut u8, return_size: *mut usize) {
    let memory = crate::runtime::seam::memory::proxy_on_memory_allocate(value.len());
    // SAFETY: `memory` was just allocated for `value.len()` bytes and does not overlap
    // `value`; the return pointers are valid for writes (see # Safety).
    unsafe {
        if !value.is_empty() {
            std::ptr::copy_nonoverlapping(value.as_ptr(), memory, value.len());
        }
        *return_data = memory;
        *return_size = value.len();
    }
}

fn decode_pairs(data: &[u8]) -> Option<Pairs> {
    pairs::decode(data).ok().map(|p| {
        p.into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    })
}

fn lower(key: &[u8]) -> Vec<u8> {
    key.to_ascii_lowercase()
}

impl State {
    fn stream(&mut self) -> Option<&mut StreamState> {
        let id = self.effective_context;
        self.streams.get_mut(&id)
    }

    /// The map `map_type` of the effective context, if it has one.
    fn map(&mut self, map_type: u32) -> Option<&mut Pairs> {
        match map_type {
            0 => self
                .stream()
                .filter(|s| s.request_headers_open)
                .map(|s| &mut s.request_headers),
            1 => self.stream().map(|s| &mut s.request_trailers),
            2 => self
                .stream()
                .filter(|s| s.response_headers_open)
                .map(|s| &mut s.response_headers),
            3 => self.stream().map(|s| &mut s.response_trailers),
            4 | 6 if self.effective_context == self.callout.owner => {
                Some(&mut self.callout.headers)
            }
            5 | 7 if self.effective_context == self.callout.owner => {
                Some(&mut self.callout.trailers)
            }
            _ => None,
        }
    }

    /// The plugin context a context belongs to: Envoy makes callouts on it.
    pub fn root_of(&self, context: u32) -> u32 {
        self.stream_roots.get(&context).copied().unwrap_or(context)
    }

    fn buffer(&mut self, buffer_type: u32) -> Option<&mut Vec<u8>> {
        match buffer_type {
            0 => self.stream().map(|s| &mut s.request_body),
            1 => self.stream().map(|s| &mut s.response_body),
            4 if self.effective_context == self.callout.owner => Some(&mut self.callout.body),
            5 if self.effective_context == self.callout.owner => Some(&mut self.grpc_message),
            6 => Some(&mut self.vm_configuration),
            7 => Some(&mut self.plugin_configuration),
            8 => Some(&mut self.foreign_arguments),
            _ => None,
        }
    }

    /// Properties Envoy derives from the stream, else the scripted ones.
    fn property(&mut self, path: &[u8]) -> Option<Vec<u8>> {
        let header = |state: &mut State, map: u32, name: &[u8]| -> Option<Vec<u8>> {
            let map = state.map(map)?;
            map.iter()
                .find(|(k, _)| k.as_slice() == name)
                .map(|(_, v)| v.clone())
        };
        match path {
            b"request\0path" => header(self, 0, b":path"),
            b"request\0url_path" => header(self, 0, b":path")
                .map(|p| p.split(|b| *b == b'?').next().unwrap_or_default().to_vec()),
            b"request\0method" => header(self, 0, b":method"),
            b"request\0host" => header(self, 0, b":authority"),
            b"request\0scheme" => header(self, 0, b":scheme"),
            b"request\0id" => header(self, 0, b"x-request-id"),
            b"request\0headers" => self.map(0).map(|m| pairs::encode(m)),
            b"response\0code" => header(self, 2, b":status")
                .and_then(|s| std::str::from_utf8(&s).ok()?.parse::<i64>().ok())
                .map(|code| code.to_le_bytes().to_vec()),
            b"response\0headers" => self.map(2).map(|m| pairs::encode(m)),
            // Each context sees its own plugin's name, as in Envoy.
            b"plugin_name" | b"plugin_root_id" => {
                let root = self.root_of(self.effective_context);
                (self.plugin_names.get(&root).cloned())
                    .or_else(|| self.properties.get(path).cloned())
            }
            _ => self
                .properties
                .get(path)
                .cloned()
                .or_else(|| connection_default(path)),
        }
    }
}

/// What Envoy always knows of a connection, for a test that does not set it: a downstream
/// peer on loopback and the listener's address.
fn connection_default(path: &[u8]) -> Option<Vec<u8>> {
    let port = |port: i64| Some(port.to_le_bytes().to_vec());
    match path {
        b"source\0address" => Some(b"127.0.0.1:40000".to_vec()),
        b"source\0port" => port(40000),
        b"destination\0address" => Some(b"127.0.0.1:10000".to_vec()),
        b"destination\0port" => port(10000),
        _ => None,
    }
}

impl LogHost for EmulatorHost {
    unsafe fn proxy_log(&self, level: u32, message_data: *const u8, message_size: usize) -> u32 {
        if level > LogLevel::Critical as u32 {
            return BAD_ARGUMENT;
        }
        let message =
            // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
            String::from_utf8_lossy(unsafe { bytes(message_data, message_size) }).into_owned();
        let mut state = self.state.borrow_mut();
        let level = LogLevel::from_raw(level);
        if level >= state.log_level {
            state.logs.push(LogRecord { level, message });
        }
        OK
    }

    unsafe fn proxy_get_log_level(&self, return_level: *mut u32) -> u32 {
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_level = self.state.borrow().log_level as u32 };
        OK
    }
}

impl ContextHost for EmulatorHost {
    unsafe fn proxy_done(&self) -> u32 {
        self.state.borrow_mut().done_calls += 1;
        OK
    }

    unsafe fn proxy_set_effective_context(&self, context_id: u32) -> u32 {
        let mut state = self.state.borrow_mut();
        if !state.streams.contains_key(&context_id) && !state.roots.contains(&context_id) {
            return BAD_ARGUMENT;
        }
        state.effective_context = context_id;
        OK
    }
}

impl TimeHost for EmulatorHost {
    unsafe fn proxy_get_current_time_nanoseconds(&self, return_time: *mut u64) -> u32 {
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_time = self.state.borrow().now_nanos };
        OK
    }

    unsafe fn proxy_set_tick_period_milliseconds(&self, period: u32) -> u32 {
        let mut state = self.state.borrow_mut();
        let context = state.effective_context;
        if period == 0 {
            state.tick_periods.remove(&context);
        } else {
            state.tick_periods.insert(context, period);
        }
        OK
    }
}

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
        if !matches!(buffer_type, 0 | 1) {
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

impl HeaderHost for EmulatorHost {
    unsafe fn proxy_get_header_map_size(&self, map_type: u32, return_size: *mut usize) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_size = pairs::encode(map).len() };
        OK
    }

    unsafe fn proxy_get_header_map_pairs(
        &self,
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        let encoded = pairs::encode(map);
        drop(state);
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
        unsafe { give(&encoded, return_data, return_size) };
        OK
    }

    unsafe fn proxy_set_header_map_pairs(
        &self,
        map_type: u32,
        data: *const u8,
        size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let Some(new_pairs) = decode_pairs(unsafe { bytes(data, size) }) else {
            return BAD_ARGUMENT;
        };
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        *map = new_pairs.into_iter().map(|(k, v)| (lower(&k), v)).collect();
        OK
    }

    unsafe fn proxy_get_header_map_value(
        &self,
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = lower(unsafe { bytes(key_data, key_size) });
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        // Envoy answers with the first value of a repeated header.
        let Some(value) = map.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()) else {
            return NOT_FOUND;
        };
        drop(state);
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
        unsafe { give(&value, return_data, return_size) };
        OK
    }

    unsafe fn proxy_add_header_map_value(
        &self,
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = lower(unsafe { bytes(key_data, key_size) });
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let value = unsafe { bytes(value_data, value_size) }.to_vec();
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        map.push((key, value));
        OK
    }

    unsafe fn proxy_replace_header_map_value(
        &self,
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = lower(unsafe { bytes(key_data, key_size) });
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let value = unsafe { bytes(value_data, value_size) }.to_vec();
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        // The first occurrence keeps its place and takes the value; the others go.
        match map.iter().position(|(k, _)| *k == key) {
            Some(first) => {
                map[first].1 = value;
                let mut index = 0;
                map.retain(|(k, _)| {
                    index += 1;
                    index - 1 == first || *k != key
                });
            }
            None => map.push((key, value)),
        }
        OK
    }

    unsafe fn proxy_remove_header_map_value(
        &self,
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = lower(unsafe { bytes(key_data, key_size) });
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        map.retain(|(k, _)| *k != key);
        OK
    }
}

impl StreamHost for EmulatorHost {
    unsafe fn proxy_continue_stream(&self, stream_type: u32) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(stream) = state.stream() else {
            return NOT_FOUND;
        };
        match stream_type {
            0 => stream.resumed_request = true,
            1 => stream.resumed_response = true,
            2 | 3 => return Status::Unimplemented.raw(),
            _ => return BAD_ARGUMENT,
        }
        OK
    }

    unsafe fn proxy_close_stream(&self, stream_type: u32) -> u32 {
        if stream_type > 3 {
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

impl SharedDataHost for EmulatorHost {
    unsafe fn proxy_get_shared_data(
        &self,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = unsafe { bytes(key_data, key_size) };
        let Some((value, cas)) = self.state.borrow().shared_data.get(key).cloned() else {
            return NOT_FOUND;
        };
        // SAFETY: the out-params point to the caller's locals, valid for writes.
        unsafe {
            give(&value, return_value_data, return_value_size);
            *return_cas = cas;
        }
        OK
    }

    unsafe fn proxy_set_shared_data(
        &self,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = unsafe { bytes(key_data, key_size) }.to_vec();
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let value = unsafe { bytes(value_data, value_size) }.to_vec();
        let mut state = self.state.borrow_mut();
        let entry = state.shared_data.entry(key).or_insert((Vec::new(), 0));
        // A non-zero cas must match the version last read; every write bumps the version.
        if cas != 0 && cas != entry.1 {
            return Status::CasMismatch.raw();
        }
        *entry = (value, entry.1.wrapping_add(1).max(1));
        OK
    }
}

impl SharedQueueHost for EmulatorHost {
    unsafe fn proxy_register_shared_queue(
        &self,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let name = String::from_utf8_lossy(unsafe { bytes(name_data, name_size) }).into_owned();
        let mut state = self.state.borrow_mut();
        let owner = state.effective_context;
        let vm_id = state.vm_id.clone();
        let id = match state
            .queues
            .iter()
            .position(|q| q.vm_id == vm_id && q.name == name)
        {
            Some(index) => {
                state.queues[index].owner = owner;
                index
            }
            None => {
                state.queues.push(Queue {
                    vm_id,
                    name,
                    owner,
                    items: VecDeque::new(),
                });
                state.queues.len() - 1
            }
        };
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_id = id as u32 + 1 };
        OK
    }

    unsafe fn proxy_resolve_shared_queue(
        &self,
        vm_id_data: *const u8,
        vm_id_size: usize,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let vm_id = unsafe { bytes(vm_id_data, vm_id_size) };
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let name = unsafe { bytes(name_data, name_size) };
        let state = self.state.borrow();
        match state
            .queues
            .iter()
            .position(|q| q.vm_id.as_bytes() == vm_id && q.name.as_bytes() == name)
        {
            Some(index) => {
                // SAFETY: the out-param points to the caller's local, valid for one write.
                unsafe { *return_id = index as u32 + 1 };
                OK
            }
            None => NOT_FOUND,
        }
    }

    unsafe fn proxy_enqueue_shared_queue(
        &self,
        queue_id: u32,
        value_data: *const u8,
        value_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let value = unsafe { bytes(value_data, value_size) }.to_vec();
        let mut state = self.state.borrow_mut();
        let Some(queue) = state.queues.get_mut((queue_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        queue.items.push_back(value);
        let owner = queue.owner;
        state.ready_queues.push((owner, queue_id));
        OK
    }

    unsafe fn proxy_dequeue_shared_queue(
        &self,
        queue_id: u32,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(queue) = state.queues.get_mut((queue_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        let Some(item) = queue.items.pop_front() else {
            return Status::Empty.raw();
        };
        drop(state);
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
        unsafe { give(&item, return_value_data, return_value_size) };
        OK
    }
}

impl MetricsHost for EmulatorHost {
    unsafe fn proxy_define_metric(
        &self,
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32 {
        let kind = match metric_type {
            0 => MetricType::Counter,
            1 => MetricType::Gauge,
            2 => MetricType::Histogram,
            _ => return BAD_ARGUMENT,
        };
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let name = String::from_utf8_lossy(unsafe { bytes(name_data, name_size) }).into_owned();
        let mut state = self.state.borrow_mut();
        let index = match state
            .metrics
            .iter()
            .position(|m| m.name == name && m.kind == kind)
        {
            Some(index) => index,
            None => {
                state.metrics.push(Metric {
                    name,
                    kind,
                    value: 0,
                    recorded: Vec::new(),
                });
                state.metrics.len() - 1
            }
        };
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_id = index as u32 + 1 };
        OK
    }

    unsafe fn proxy_record_metric(&self, metric_id: u32, value: u64) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(metric) = state.metrics.get_mut((metric_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        metric.value = value;
        if metric.kind == MetricType::Histogram {
            metric.recorded.push(value);
        }
        OK
    }

    unsafe fn proxy_increment_metric(&self, metric_id: u32, delta: i64) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(metric) = state.metrics.get_mut((metric_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        match metric.kind {
            MetricType::Counter if delta < 0 => BAD_ARGUMENT,
            MetricType::Histogram => BAD_ARGUMENT,
            _ => {
                metric.value = metric.value.saturating_add_signed(delta);
                OK
            }
        }
    }

    unsafe fn proxy_get_metric(&self, metric_id: u32, return_value: *mut u64) -> u32 {
        let state = self.state.borrow();
        let Some(metric) = state.metrics.get((metric_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_value = metric.value };
        OK
    }
}

impl PropertyHost for EmulatorHost {
    unsafe fn proxy_get_property(
        &self,
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let path = unsafe { bytes(path_data, path_size) };
        let mut state = self.state.borrow_mut();
        state
            .properties_read
            .push(String::from_utf8_lossy(path).replace('\0', "."));
        let Some(value) = state.property(path) else {
            return NOT_FOUND;
        };
        drop(state);
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
        unsafe { give(&value, return_value_data, return_value_size) };
        OK
    }

    unsafe fn proxy_set_property(
        &self,
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let path = unsafe { bytes(path_data, path_size) }.to_vec();
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let value = unsafe { bytes(value_data, value_size) }.to_vec();
        let mut state = self.state.borrow_mut();
        state.properties_set.push((
            String::from_utf8_lossy(&path).replace('\0', "."),
            value.clone(),
        ));
        state.properties.insert(path, value);
        OK
    }
}

impl ForeignHost for EmulatorHost {
    unsafe fn proxy_call_foreign_function(
        &self,
        name_data: *const u8,
        name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        return_results_data: *mut *mut u8,
        return_results_size: *mut usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let name = String::from_utf8_lossy(unsafe { bytes(name_data, name_size) }).into_owned();
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let arguments = unsafe { bytes(arguments_data, arguments_size) }.to_vec();
        // Taken out while it runs, so it may not re-enter the host through this state.
        let Some(mut function) = self.state.borrow_mut().foreign.remove(&name) else {
            return NOT_FOUND;
        };
        let result = function(&arguments);
        self.state.borrow_mut().foreign.insert(name, function);
        match result {
            Ok(results) => {
                // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
                unsafe { give(&results, return_results_data, return_results_size) };
                OK
            }
            Err(status) => status.raw(),
        }
    }
}
