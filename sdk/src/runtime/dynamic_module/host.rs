//! The proxy-wasm host functions, answered with Envoy's dynamic-module callbacks: one
//! [`NativeHost`] per Envoy thread, installed as that thread's
//! [`native::Host`](crate::abi::native::Host).
//!
//! A call acts on the stream whose hook is running (or that `proxy_set_effective_context`
//! chose), and on the plugin configuration it belongs to: the host's [`Scope`].

use super::ticks::Ticks;
use super::{Metric, PluginConfig};
use crate::abi::dynamic_module::{
    self as dm, EnvoyBuffer, EnvoyHeader, FilterEnvoyPtr, ModuleBuffer, ModuleHeader, attribute,
    body, callbacks, header_map,
};
use crate::abi::imports::*;
use crate::abi::{BufferType, LogLevel, MapType, MetricType, Status, StreamType, pairs};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Mutex;

const OK: u32 = Status::Ok.raw();
const NOT_FOUND: u32 = Status::NotFound.raw();
const BAD_ARGUMENT: u32 = Status::BadArgument.raw();
const UNIMPLEMENTED: u32 = Status::Unimplemented.raw();
const INTERNAL_FAILURE: u32 = Status::InternalFailure.raw();

/// Calls Envoy's callback `$name`; `None` when this Envoy has none.
macro_rules! envoy {
    ($name:ident($($arg:expr),* $(,)?)) => {
        match callbacks().$name {
            // SAFETY: an Envoy callback, called on the thread of the hook that is running,
            // with Envoy's objects from that hook and pointers to live locals and slices,
            // each valid for the whole call with its length beside it.
            Some(callback) => Some(unsafe { callback($($arg),*) }),
            None => None,
        }
    };
}

/// What a host call acts on: a stream (`filter`, null for none) of a configuration.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scope {
    pub(super) filter: FilterEnvoyPtr,
    pub(super) plugin: *const PluginConfig,
    /// When the stream's filter was made (nanoseconds since the epoch; 0 for none).
    pub(super) started: u64,
}

impl Scope {
    const NONE: Scope = Scope {
        filter: std::ptr::null_mut(),
        plugin: std::ptr::null(),
        started: 0,
    };

    /// The plugin context of `plugin`, with no stream.
    pub(super) fn plugin(plugin: &'static PluginConfig) -> Scope {
        Scope {
            filter: std::ptr::null_mut(),
            plugin,
            started: 0,
        }
    }

    /// A stream of `plugin`, whose filter was made at `started`.
    pub(super) fn stream(
        filter: FilterEnvoyPtr,
        plugin: &'static PluginConfig,
        started: u64,
    ) -> Scope {
        Scope {
            filter,
            plugin,
            started,
        }
    }

    fn plugin_config(&self) -> Option<&'static PluginConfig> {
        // SAFETY: a scope's configuration is leaked (never freed; see `retire`).
        unsafe { self.plugin.as_ref() }
    }
}

/// A callout's answer, while its handler runs.
struct Answer {
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    failure: Option<&'static str>,
}

/// One Envoy thread's host.
pub(crate) struct NativeHost {
    scope: Cell<Scope>,
    /// Contexts `proxy_set_effective_context` may switch to.
    contexts: RefCell<Vec<(u32, Scope)>>,
    /// The callout whose answer is being delivered.
    answer: RefCell<Option<Answer>>,
    /// Callouts in flight: Envoy's stream and id for each, and the SDK's token.
    callouts: RefCell<Vec<(FilterEnvoyPtr, u64, u32)>>,
    next_token: Cell<u32>,
    /// The plugin contexts' ticks (for streams' timers).
    pub(super) ticks: Ticks,
}

impl NativeHost {
    pub(super) fn new() -> NativeHost {
        NativeHost {
            scope: Cell::new(Scope::NONE),
            contexts: RefCell::new(Vec::new()),
            answer: RefCell::new(None),
            callouts: RefCell::new(Vec::new()),
            next_token: Cell::new(1),
            ticks: Ticks::new(),
        }
    }

    /// Acts on `scope` until [`leave`](Self::leave); returns the scope to go back to.
    pub(super) fn enter(&self, scope: Scope) -> Scope {
        self.scope.replace(scope)
    }

    pub(super) fn leave(&self, outer: Scope) {
        self.scope.set(outer);
    }

    pub(super) fn add_root(&self, context_id: u32, plugin: &'static PluginConfig) {
        self.contexts
            .borrow_mut()
            .push((context_id, Scope::plugin(plugin)));
    }

    pub(super) fn add_stream(&self, context_id: u32, scope: Scope) {
        self.contexts.borrow_mut().push((context_id, scope));
    }

    pub(super) fn remove_context(&self, context_id: u32) {
        let mut contexts = self.contexts.borrow_mut();
        if let Some(at) = contexts.iter().position(|(id, _)| *id == context_id) {
            let (_, scope) = contexts.swap_remove(at);
            drop(contexts);
            if scope.filter.is_null() {
                self.ticks.root_gone(context_id);
            } else {
                self.ticks.stream_gone(scope.filter);
            }
        }
    }

    /// The plugin context `scope` belongs to.
    fn root_of(&self, scope: Scope) -> Option<u32> {
        self.contexts
            .borrow()
            .iter()
            .find(|(_, root)| root.filter.is_null() && std::ptr::eq(root.plugin, scope.plugin))
            .map(|(id, _)| *id)
    }

    /// The configuration of plugin context `root`.
    pub(super) fn plugin_of(&self, root: u32) -> Option<&'static PluginConfig> {
        self.contexts
            .borrow()
            .iter()
            .find(|(id, scope)| *id == root && scope.filter.is_null())
            .and_then(|(_, scope)| scope.plugin_config())
    }

    /// The SDK's token of Envoy's callout `id` from stream `filter`, forgotten here.
    pub(super) fn take_callout(&self, filter: FilterEnvoyPtr, id: u64) -> Option<u32> {
        let mut callouts = self.callouts.borrow_mut();
        let at = callouts
            .iter()
            .position(|(stream, envoy_id, _)| *stream == filter && *envoy_id == id)?;
        Some(callouts.swap_remove(at).2)
    }

    /// Forgets the callouts of stream `filter` (Envoy cancels them with the stream).
    pub(super) fn forget_callouts(&self, filter: FilterEnvoyPtr) {
        self.callouts
            .borrow_mut()
            .retain(|(stream, _, _)| *stream != filter);
    }

    /// Holds a callout's answer for the handler that reads it.
    pub(super) fn set_answer(
        &self,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Vec<u8>,
        failure: Option<&'static str>,
    ) {
        *self.answer.borrow_mut() = Some(Answer {
            headers,
            body,
            failure,
        });
    }

    pub(super) fn clear_answer(&self) {
        self.answer.borrow_mut().take();
    }

    /// Logs `message` as the plugin of `scope` would.
    pub(super) fn log_for(&self, scope: Scope, level: LogLevel, message: &str) {
        let outer = self.enter(scope);
        self.write_log(level as u32, message.as_bytes());
        self.leave(outer);
    }

    fn filter(&self) -> Option<FilterEnvoyPtr> {
        Some(self.scope.get().filter).filter(|filter| !filter.is_null())
    }

    fn plugin(&self) -> Option<&'static PluginConfig> {
        self.scope.get().plugin_config()
    }

    fn write_log(&self, level: u32, message: &[u8]) {
        // As Envoy names a wasm plugin's lines: its name and root id first.
        let line = match self.plugin() {
            Some(plugin) => {
                let mut line = Vec::with_capacity(plugin.name.len() * 2 + 3 + message.len());
                line.extend_from_slice(plugin.name.as_bytes());
                line.push(b' ');
                line.extend_from_slice(plugin.name.as_bytes());
                line.extend_from_slice(b": ");
                line.extend_from_slice(message);
                line
            }
            None => message.to_vec(),
        };
        envoy!(log(level, ModuleBuffer::of(&line)));
    }

    /// Every header of map `map` of the current stream.
    fn headers(&self, map: u32) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let filter = self.filter()?;
        let count = envoy!(http_get_headers_size(filter, map))?;
        let mut slots = vec![EnvoyHeader::EMPTY; count];
        if count > 0 && !envoy!(http_get_headers(filter, map, slots.as_mut_ptr()))? {
            return None;
        }
        Some(
            slots
                .iter()
                .map(|header| {
                    // SAFETY: Envoy filled each slot with its header's bytes, valid for
                    // the current hook.
                    let bytes = |ptr, len| unsafe { crate::abi::native::input(ptr, len) }.to_vec();
                    (
                        bytes(header.key_ptr, header.key_length),
                        bytes(header.value_ptr, header.value_length),
                    )
                })
                .collect(),
        )
    }

    /// The slices of body buffer `which` of the current stream.
    fn body_chunks(&self, filter: FilterEnvoyPtr, which: u32) -> Vec<EnvoyBuffer> {
        let count = envoy!(http_get_body_chunks_size(filter, which)).unwrap_or(0);
        let mut chunks = vec![EnvoyBuffer::EMPTY; count];
        if count > 0
            && envoy!(http_get_body_chunks(filter, which, chunks.as_mut_ptr())) != Some(true)
        {
            chunks.clear();
        }
        chunks
    }

    /// The body of direction `request` as proxy-wasm sees it: what this filter buffered
    /// so far, then what this hook received.
    fn body(&self, filter: FilterEnvoyPtr, request: bool) -> Vec<u8> {
        let (buffered, received) = body_pair(request);
        let mut chunks = self.body_chunks(filter, buffered);
        chunks.extend(self.body_chunks(filter, received));
        let mut bytes = Vec::with_capacity(chunks.iter().map(|chunk| chunk.length).sum());
        for chunk in chunks {
            // SAFETY: Envoy filled the slice in the current hook.
            bytes.extend_from_slice(unsafe { chunk.bytes() });
        }
        bytes
    }

    /// The size of the body of direction `request` as proxy-wasm sees it.
    pub(super) fn body_size_of(&self, filter: FilterEnvoyPtr, request: bool) -> usize {
        self.body_size(filter, request)
    }

    fn body_size(&self, filter: FilterEnvoyPtr, request: bool) -> usize {
        let (buffered, received) = body_pair(request);
        let size = |which| envoy!(http_get_body_size(filter, which)).unwrap_or(0);
        size(buffered) + size(received)
    }

    /// Replaces the whole body of direction `request` with `bytes`.
    fn replace_body(&self, filter: FilterEnvoyPtr, request: bool, bytes: &[u8]) -> bool {
        let (buffered, received) = body_pair(request);
        for which in [buffered, received] {
            let size = envoy!(http_get_body_size(filter, which)).unwrap_or(0);
            if size > 0 && envoy!(http_drain_body(filter, which, size)) != Some(true) {
                return false;
            }
        }
        bytes.is_empty()
            || envoy!(http_append_body(filter, received, ModuleBuffer::of(bytes))) == Some(true)
    }
}

/// The buffered and received body buffers of a direction.
fn body_pair(request: bool) -> (u32, u32) {
    if request {
        (body::BUFFERED_REQUEST, body::RECEIVED_REQUEST)
    } else {
        (body::BUFFERED_RESPONSE, body::RECEIVED_RESPONSE)
    }
}

/// Envoy's header map for a proxy-wasm map type of the stream.
fn stream_map(map_type: u32) -> Option<u32> {
    match MapType::from_raw(map_type)? {
        MapType::HttpRequestHeaders => Some(header_map::REQUEST_HEADERS),
        MapType::HttpRequestTrailers => Some(header_map::REQUEST_TRAILERS),
        MapType::HttpResponseHeaders => Some(header_map::RESPONSE_HEADERS),
        MapType::HttpResponseTrailers => Some(header_map::RESPONSE_TRAILERS),
        _ => None,
    }
}

/// Decoded pairs, owned; `None` when malformed.
fn owned_pairs(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    pairs::decode(bytes).ok().map(|list| {
        list.into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    })
}

impl HeaderHost for NativeHost {
    fn proxy_get_header_map_size(&self, call: proxy_get_header_map_size::Args<'_>) -> u32 {
        let mut pairs_bytes = Vec::new();
        let status = self.proxy_get_header_map_pairs(proxy_get_header_map_pairs::Args {
            map_type: call.map_type,
            return_pairs: &mut pairs_bytes,
            _call: std::marker::PhantomData,
        });
        *call.return_size = pairs_bytes.len();
        status
    }

    fn proxy_get_header_map_pairs(&self, call: proxy_get_header_map_pairs::Args<'_>) -> u32 {
        let list = match MapType::from_raw(call.map_type) {
            Some(MapType::HttpCallResponseHeaders) => match &*self.answer.borrow() {
                Some(answer) => answer.headers.clone(),
                None => return NOT_FOUND,
            },
            Some(MapType::HttpCallResponseTrailers) => Vec::new(),
            _ => match stream_map(call.map_type).and_then(|map| self.headers(map)) {
                Some(list) => list,
                None => return BAD_ARGUMENT,
            },
        };
        *call.return_pairs = pairs::encode(&list);
        OK
    }

    fn proxy_set_header_map_pairs(&self, call: proxy_set_header_map_pairs::Args<'_>) -> u32 {
        let (Some(filter), Some(map)) = (self.filter(), stream_map(call.map_type)) else {
            return BAD_ARGUMENT;
        };
        let (Some(new), Some(old)) = (owned_pairs(call.data), self.headers(map)) else {
            return BAD_ARGUMENT;
        };
        for (key, _) in &old {
            if !new.iter().any(|(k, _)| k == key) {
                envoy!(http_set_header(
                    filter,
                    map,
                    ModuleBuffer::of(key),
                    ModuleBuffer::NULL
                ));
            }
        }
        let mut set: Vec<&[u8]> = Vec::new();
        for (key, value) in &new {
            let (key_buf, value_buf) = (ModuleBuffer::of(key), ModuleBuffer::of(value));
            let done = if set.contains(&key.as_slice()) {
                envoy!(http_add_header(filter, map, key_buf, value_buf))
            } else {
                set.push(key);
                envoy!(http_set_header(filter, map, key_buf, value_buf))
            };
            if done != Some(true) {
                return BAD_ARGUMENT;
            }
        }
        OK
    }

    fn proxy_get_header_map_value(&self, call: proxy_get_header_map_value::Args<'_>) -> u32 {
        if MapType::from_raw(call.map_type) == Some(MapType::HttpCallResponseHeaders) {
            let answer = self.answer.borrow();
            let Some(answer) = answer.as_ref() else {
                return NOT_FOUND;
            };
            let key = call.key.to_ascii_lowercase();
            return match answer.headers.iter().find(|(k, _)| *k == key) {
                Some((_, value)) => {
                    *call.return_value = value.clone();
                    OK
                }
                None => NOT_FOUND,
            };
        }
        let (Some(filter), Some(map)) = (self.filter(), stream_map(call.map_type)) else {
            return BAD_ARGUMENT;
        };
        let mut value = EnvoyBuffer::EMPTY;
        let found = envoy!(http_get_header(
            filter,
            map,
            ModuleBuffer::of(call.key),
            &mut value,
            0,
            std::ptr::null_mut()
        ));
        match found {
            Some(true) if !value.ptr.is_null() => {
                // SAFETY: Envoy filled `value` in the current hook.
                *call.return_value = unsafe { value.bytes() }.to_vec();
                OK
            }
            Some(_) => NOT_FOUND,
            None => UNIMPLEMENTED,
        }
    }

    fn proxy_add_header_map_value(&self, call: proxy_add_header_map_value::Args<'_>) -> u32 {
        let (Some(filter), Some(map)) = (self.filter(), stream_map(call.map_type)) else {
            return BAD_ARGUMENT;
        };
        let added = envoy!(http_add_header(
            filter,
            map,
            ModuleBuffer::of(call.key),
            ModuleBuffer::of(call.value)
        ));
        if added == Some(true) {
            OK
        } else {
            BAD_ARGUMENT
        }
    }

    fn proxy_replace_header_map_value(
        &self,
        call: proxy_replace_header_map_value::Args<'_>,
    ) -> u32 {
        let (Some(filter), Some(map)) = (self.filter(), stream_map(call.map_type)) else {
            return BAD_ARGUMENT;
        };
        let set = envoy!(http_set_header(
            filter,
            map,
            ModuleBuffer::of(call.key),
            ModuleBuffer::of(call.value)
        ));
        if set == Some(true) { OK } else { BAD_ARGUMENT }
    }

    fn proxy_remove_header_map_value(&self, call: proxy_remove_header_map_value::Args<'_>) -> u32 {
        let (Some(filter), Some(map)) = (self.filter(), stream_map(call.map_type)) else {
            return BAD_ARGUMENT;
        };
        envoy!(http_set_header(
            filter,
            map,
            ModuleBuffer::of(call.key),
            ModuleBuffer::NULL
        ));
        OK
    }
}

impl BufferHost for NativeHost {
    fn proxy_get_buffer_bytes(&self, call: proxy_get_buffer_bytes::Args<'_>) -> u32 {
        let bytes = match BufferType::from_raw(call.buffer_type) {
            Some(BufferType::PluginConfiguration) => match self.plugin() {
                Some(plugin) => plugin.configuration.clone(),
                None => return NOT_FOUND,
            },
            Some(BufferType::VmConfiguration) => Vec::new(),
            Some(BufferType::HttpCallResponseBody) => match &*self.answer.borrow() {
                Some(answer) => answer.body.clone(),
                None => return NOT_FOUND,
            },
            Some(kind @ (BufferType::HttpRequestBody | BufferType::HttpResponseBody)) => {
                let Some(filter) = self.filter() else {
                    return NOT_FOUND;
                };
                self.body(filter, kind == BufferType::HttpRequestBody)
            }
            _ => return NOT_FOUND,
        };
        if call.start > bytes.len() {
            return BAD_ARGUMENT;
        }
        // The range in place: the whole body (the usual read) is handed over uncopied.
        let mut bytes = bytes;
        bytes.truncate(call.start.saturating_add(call.max_size));
        bytes.drain(..call.start);
        *call.return_data = bytes;
        OK
    }

    fn proxy_set_buffer_bytes(&self, call: proxy_set_buffer_bytes::Args<'_>) -> u32 {
        let request = match BufferType::from_raw(call.buffer_type) {
            Some(BufferType::HttpRequestBody) => true,
            Some(BufferType::HttpResponseBody) => false,
            _ => return BAD_ARGUMENT,
        };
        let Some(filter) = self.filter() else {
            return NOT_FOUND;
        };
        let size = self.body_size(filter, request);
        // As Envoy: from the start, the first `size` bytes are replaced (`size` 0
        // prepends); from the end or past it, the data is appended; anything else is refused.
        let done = if call.start == 0 {
            let mut bytes = self.body(filter, request);
            let end = call.size.min(bytes.len());
            bytes.splice(..end, call.data.iter().copied());
            self.replace_body(filter, request, &bytes)
        } else if call.start >= size {
            let (_, received) = body_pair(request);
            call.data.is_empty()
                || envoy!(http_append_body(
                    filter,
                    received,
                    ModuleBuffer::of(call.data)
                )) == Some(true)
        } else {
            return BAD_ARGUMENT;
        };
        if done { OK } else { BAD_ARGUMENT }
    }

    fn proxy_get_buffer_status(&self, call: proxy_get_buffer_status::Args<'_>) -> u32 {
        let size = match BufferType::from_raw(call.buffer_type) {
            Some(BufferType::PluginConfiguration) => match self.plugin() {
                Some(plugin) => plugin.configuration.len(),
                None => return NOT_FOUND,
            },
            Some(BufferType::HttpCallResponseBody) => match &*self.answer.borrow() {
                Some(answer) => answer.body.len(),
                None => return NOT_FOUND,
            },
            Some(kind @ (BufferType::HttpRequestBody | BufferType::HttpResponseBody)) => {
                let Some(filter) = self.filter() else {
                    return NOT_FOUND;
                };
                self.body_size(filter, kind == BufferType::HttpRequestBody)
            }
            _ => return NOT_FOUND,
        };
        *call.return_size = size;
        *call.return_flags = 0;
        OK
    }
}

impl StreamHost for NativeHost {
    fn proxy_continue_stream(&self, call: proxy_continue_stream::Args<'_>) -> u32 {
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
        if StreamType::from_raw(call.stream_type).is_none() {
            return BAD_ARGUMENT;
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
        *call.return_message = answer.failure.unwrap_or_default().as_bytes().to_vec();
        OK
    }
}

impl ContextHost for NativeHost {
    fn proxy_done(&self, _call: proxy_done::Args<'_>) -> u32 {
        OK
    }

    fn proxy_set_effective_context(&self, call: proxy_set_effective_context::Args<'_>) -> u32 {
        let scope = self
            .contexts
            .borrow()
            .iter()
            .find(|(id, _)| *id == call.context_id)
            .map(|(_, scope)| *scope);
        match scope {
            Some(scope) => {
                self.scope.set(scope);
                OK
            }
            None => BAD_ARGUMENT,
        }
    }
}

impl LogHost for NativeHost {
    fn proxy_log(&self, call: proxy_log::Args<'_>) -> u32 {
        self.write_log(call.level.min(dm::log_level::CRITICAL), call.message);
        OK
    }

    fn proxy_get_log_level(&self, call: proxy_get_log_level::Args<'_>) -> u32 {
        let lowest = (dm::log_level::TRACE..=dm::log_level::CRITICAL)
            .find(|level| envoy!(log_enabled(*level)) == Some(true))
            .unwrap_or(dm::log_level::CRITICAL);
        *call.return_level = lowest;
        OK
    }
}

impl TimeHost for NativeHost {
    fn proxy_get_current_time_nanoseconds(
        &self,
        call: proxy_get_current_time_nanoseconds::Args<'_>,
    ) -> u32 {
        *call.return_time = now_nanos();
        OK
    }

    fn proxy_set_tick_period_milliseconds(
        &self,
        call: proxy_set_tick_period_milliseconds::Args<'_>,
    ) -> u32 {
        let Some(root) = self.root_of(self.scope.get()) else {
            return NOT_FOUND;
        };
        if self.ticks.set(root, call.period, self.filter()) {
            OK
        } else {
            UNIMPLEMENTED
        }
    }
}

impl MetricsHost for NativeHost {
    fn proxy_define_metric(&self, call: proxy_define_metric::Args<'_>) -> u32 {
        let Some(plugin) = self.plugin() else {
            return NOT_FOUND;
        };
        let find = |metrics: &[Metric]| {
            metrics
                .iter()
                .position(|m| m.kind == call.metric_type && m.name == call.name)
        };
        if plugin.metrics.get().is_some() {
            // Loaded: Envoy defines no more, but a worker finds what the main thread made.
            return match find(plugin.metrics()) {
                Some(index) => {
                    *call.return_id = index as u32;
                    OK
                }
                None => BAD_ARGUMENT,
            };
        }
        let Ok(mut defining) = plugin.defining.lock() else {
            return INTERNAL_FAILURE;
        };
        if let Some(index) = find(&defining) {
            *call.return_id = index as u32;
            return OK;
        }
        let mut envoy_id = 0usize;
        let name = ModuleBuffer::of(call.name);
        let result = match MetricType::from_raw(call.metric_type) {
            Some(MetricType::Counter) => envoy!(http_filter_config_define_counter(
                plugin.envoy,
                name,
                std::ptr::null(),
                0,
                &mut envoy_id
            )),
            Some(MetricType::Gauge) => envoy!(http_filter_config_define_gauge(
                plugin.envoy,
                name,
                std::ptr::null(),
                0,
                &mut envoy_id
            )),
            Some(MetricType::Histogram) => envoy!(http_filter_config_define_histogram(
                plugin.envoy,
                name,
                std::ptr::null(),
                0,
                &mut envoy_id
            )),
            None => return BAD_ARGUMENT,
        };
        if result != Some(dm::metrics_result::SUCCESS) {
            return BAD_ARGUMENT;
        }
        defining.push(Metric {
            kind: call.metric_type,
            name: call.name.to_vec(),
            envoy_id,
        });
        *call.return_id = (defining.len() - 1) as u32;
        OK
    }

    fn proxy_increment_metric(&self, call: proxy_increment_metric::Args<'_>) -> u32 {
        let Some((metric, filter)) = self.metric(call.metric_id) else {
            return NOT_FOUND;
        };
        let by = call.delta.unsigned_abs();
        let id = metric.envoy_id;
        let null = std::ptr::null();
        let result = match MetricType::from_raw(metric.kind) {
            Some(MetricType::Counter) if call.delta >= 0 => {
                envoy!(http_filter_increment_counter(filter, id, null, 0, by))
            }
            Some(MetricType::Gauge) if call.delta >= 0 => {
                envoy!(http_filter_increment_gauge(filter, id, null, 0, by))
            }
            Some(MetricType::Gauge) => envoy!(http_filter_decrement_gauge(filter, id, null, 0, by)),
            _ => return BAD_ARGUMENT,
        };
        metrics_status(result)
    }

    fn proxy_record_metric(&self, call: proxy_record_metric::Args<'_>) -> u32 {
        let Some((metric, filter)) = self.metric(call.metric_id) else {
            return NOT_FOUND;
        };
        let (id, null) = (metric.envoy_id, std::ptr::null());
        let result = match MetricType::from_raw(metric.kind) {
            Some(MetricType::Gauge) => {
                envoy!(http_filter_set_gauge(filter, id, null, 0, call.value))
            }
            Some(MetricType::Histogram) => envoy!(http_filter_record_histogram_value(
                filter, id, null, 0, call.value
            )),
            _ => return BAD_ARGUMENT,
        };
        metrics_status(result)
    }
}

impl NativeHost {
    /// Metric `id` of the current plugin, and the stream to update it through (Envoy
    /// updates a dynamic module's metrics through a stream).
    fn metric(&self, id: u32) -> Option<(&'static Metric, FilterEnvoyPtr)> {
        let metric = self.plugin()?.metrics().get(id as usize)?;
        Some((metric, self.filter()?))
    }
}

fn metrics_status(result: Option<u32>) -> u32 {
    match result {
        Some(dm::metrics_result::SUCCESS) => OK,
        Some(_) => BAD_ARGUMENT,
        None => UNIMPLEMENTED,
    }
}

impl HttpCallHost for NativeHost {
    fn proxy_http_call(&self, call: proxy_http_call::Args<'_>) -> u32 {
        // Envoy's dynamic modules call out from a stream; a callout carries no trailers.
        let Some(filter) = self.filter() else {
            return UNIMPLEMENTED;
        };
        let Some(headers) = owned_pairs(call.headers) else {
            return BAD_ARGUMENT;
        };
        if !pairs::decode(call.trailers).is_ok_and(|t| t.is_empty()) {
            return UNIMPLEMENTED;
        }
        let mut module_headers: Vec<ModuleHeader> = headers
            .iter()
            .map(|(key, value)| ModuleHeader::of(key, value))
            .collect();
        let mut envoy_id = 0u64;
        let started = envoy!(http_filter_http_callout(
            filter,
            &mut envoy_id,
            ModuleBuffer::of(call.upstream),
            module_headers.as_mut_ptr(),
            module_headers.len(),
            ModuleBuffer::of(call.body),
            u64::from(call.timeout_ms)
        ));
        match started {
            Some(dm::callout_init::SUCCESS) => {
                let token = self.next_token.get();
                self.next_token.set(token.wrapping_add(1).max(1));
                self.callouts.borrow_mut().push((filter, envoy_id, token));
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
}

/// How an attribute's value comes from Envoy.
enum Kind {
    Text,
    Integer,
    Flag,
}

/// The dynamic-module attribute at proxy-wasm property `path` (segments).
fn attribute_of(path: &[&[u8]]) -> Option<(u32, Kind)> {
    use Kind::{Flag, Integer, Text};
    let (id, kind) = match path {
        [b"request", b"path"] => (attribute::REQUEST_PATH, Text),
        [b"request", b"url_path"] => (attribute::REQUEST_URL_PATH, Text),
        [b"request", b"host"] => (attribute::REQUEST_HOST, Text),
        [b"request", b"scheme"] => (attribute::REQUEST_SCHEME, Text),
        [b"request", b"method"] => (attribute::REQUEST_METHOD, Text),
        [b"request", b"referer"] => (attribute::REQUEST_REFERER, Text),
        [b"request", b"useragent"] => (attribute::REQUEST_USER_AGENT, Text),
        [b"request", b"id"] => (attribute::REQUEST_ID, Text),
        [b"request", b"protocol"] => (attribute::REQUEST_PROTOCOL, Text),
        [b"request", b"query"] => (attribute::REQUEST_QUERY, Text),
        [b"request", b"duration"] => (attribute::REQUEST_DURATION, Integer),
        [b"request", b"size"] => (attribute::REQUEST_SIZE, Integer),
        [b"request", b"total_size"] => (attribute::REQUEST_TOTAL_SIZE, Integer),
        [b"response", b"code"] => (attribute::RESPONSE_CODE, Integer),
        [b"response", b"code_details"] => (attribute::RESPONSE_CODE_DETAILS, Text),
        [b"response", b"flags"] => (attribute::RESPONSE_FLAGS, Integer),
        [b"response", b"grpc_status"] => (attribute::RESPONSE_GRPC_STATUS, Integer),
        [b"response", b"size"] => (attribute::RESPONSE_SIZE, Integer),
        [b"response", b"total_size"] => (attribute::RESPONSE_TOTAL_SIZE, Integer),
        [b"response", b"backend_latency"] => (attribute::RESPONSE_BACKEND_LATENCY, Integer),
        [b"source", b"address"] => (attribute::SOURCE_ADDRESS, Text),
        [b"source", b"port"] => (attribute::SOURCE_PORT, Integer),
        [b"destination", b"address"] => (attribute::DESTINATION_ADDRESS, Text),
        [b"destination", b"port"] => (attribute::DESTINATION_PORT, Integer),
        [b"connection", b"id"] => (attribute::CONNECTION_ID, Integer),
        [b"connection", b"mtls"] => (attribute::CONNECTION_MTLS, Flag),
        [b"connection", b"requested_server_name"] => {
            (attribute::CONNECTION_REQUESTED_SERVER_NAME, Text)
        }
        [b"connection", b"tls_version"] => (attribute::CONNECTION_TLS_VERSION, Text),
        [b"connection", b"subject_peer_certificate"] => {
            (attribute::CONNECTION_SUBJECT_PEER_CERTIFICATE, Text)
        }
        [b"connection", b"dns_san_peer_certificate"] => {
            (attribute::CONNECTION_DNS_SAN_PEER_CERTIFICATE, Text)
        }
        [b"connection", b"uri_san_peer_certificate"] => {
            (attribute::CONNECTION_URI_SAN_PEER_CERTIFICATE, Text)
        }
        [b"connection", b"sha256_peer_certificate_digest"] => {
            (attribute::CONNECTION_SHA256_PEER_CERTIFICATE_DIGEST, Text)
        }
        [b"connection", b"termination_details"] => {
            (attribute::CONNECTION_TERMINATION_DETAILS, Text)
        }
        [b"upstream", b"address"] => (attribute::UPSTREAM_ADDRESS, Text),
        [b"upstream", b"port"] => (attribute::UPSTREAM_PORT, Integer),
        [b"upstream", b"tls_version"] => (attribute::UPSTREAM_TLS_VERSION, Text),
        [b"upstream", b"local_address"] => (attribute::UPSTREAM_LOCAL_ADDRESS, Text),
        [b"upstream", b"transport_failure_reason"] => {
            (attribute::UPSTREAM_TRANSPORT_FAILURE_REASON, Text)
        }
        [b"upstream", b"request_attempt_count"] => {
            (attribute::UPSTREAM_REQUEST_ATTEMPT_COUNT, Integer)
        }
        [b"xds", b"cluster_name"] => (attribute::XDS_CLUSTER_NAME, Text),
        [b"xds", b"listener_direction"] => (attribute::XDS_LISTENER_DIRECTION, Integer),
        [b"xds", b"route_name"] => (attribute::XDS_ROUTE_NAME, Text),
        [b"xds", b"virtual_host_name"] => (attribute::XDS_VIRTUAL_HOST_NAME, Text),
        [b"xds", b"filter_chain_name"] => (attribute::XDS_FILTER_CHAIN_NAME, Text),
        _ => return None,
    };
    Some((id, kind))
}

impl PropertyHost for NativeHost {
    fn proxy_get_property(&self, call: proxy_get_property::Args<'_>) -> u32 {
        let path: Vec<&[u8]> = call
            .path
            .split(|byte| *byte == 0)
            .filter(|segment| !segment.is_empty())
            .collect();
        let value = match path.as_slice() {
            [b"plugin_name" | b"plugin_root_id" | b"plugin_vm_id"] => {
                self.plugin().map(|plugin| plugin.name.clone().into_bytes())
            }
            [b"request", b"headers"] => self
                .headers(header_map::REQUEST_HEADERS)
                .map(|h| pairs::encode(&h)),
            [b"response", b"headers"] => self
                .headers(header_map::RESPONSE_HEADERS)
                .map(|h| pairs::encode(&h)),
            [b"response", b"trailers"] => self
                .headers(header_map::RESPONSE_TRAILERS)
                .map(|h| pairs::encode(&h)),
            [b"filter_state", key] => self.filter_state(key),
            // Envoy's first-byte time is not in the dynamic-module ABI: the time Envoy made
            // the stream's filter stands in (the request's headers were in by then).
            [b"request", b"time"] => {
                let started = self.scope.get().started;
                (started > 0).then(|| started.to_le_bytes().to_vec())
            }
            _ => attribute_of(&path).and_then(|(id, kind)| self.attribute(id, kind)),
        };
        match value {
            Some(value) => {
                *call.return_value = value;
                OK
            }
            None => NOT_FOUND,
        }
    }
}

impl NativeHost {
    /// Filter state `key` of the current stream, serialized.
    fn filter_state(&self, key: &[u8]) -> Option<Vec<u8>> {
        let filter = self.filter()?;
        let mut value = EnvoyBuffer::EMPTY;
        envoy!(http_get_filter_state_typed(
            filter,
            ModuleBuffer::of(key),
            &mut value
        ))?
        // SAFETY: Envoy filled `value` in the current hook.
        .then(|| unsafe { value.bytes() }.to_vec())
    }

    /// Attribute `id` of the current stream, in proxy-wasm's encoding.
    fn attribute(&self, id: u32, kind: Kind) -> Option<Vec<u8>> {
        let filter = self.filter()?;
        match kind {
            Kind::Text => {
                let mut value = EnvoyBuffer::EMPTY;
                envoy!(http_filter_get_attribute_string(filter, id, &mut value))?
                    // SAFETY: Envoy filled `value` in the current hook.
                    .then(|| unsafe { value.bytes() }.to_vec())
            }
            Kind::Integer => {
                let mut value = 0u64;
                envoy!(http_filter_get_attribute_int(filter, id, &mut value))?
                    .then(|| value.to_le_bytes().to_vec())
            }
            Kind::Flag => {
                let mut value = false;
                envoy!(http_filter_get_attribute_bool(filter, id, &mut value))?
                    .then(|| vec![u8::from(value)])
            }
        }
    }
}

/// The wall clock, in nanoseconds since the epoch.
pub(super) fn now_nanos() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_nanos()).unwrap_or(u64::MAX)
}

/// The module's shared data: process-wide, as Envoy keeps it for every VM of a module.
static SHARED: Mutex<Option<SharedData>> = Mutex::new(None);

/// Shared data: each key's value and version (its `cas`).
type SharedData = HashMap<Vec<u8>, (Vec<u8>, u32)>;

impl SharedDataHost for NativeHost {
    fn proxy_get_shared_data(&self, call: proxy_get_shared_data::Args<'_>) -> u32 {
        let Ok(shared) = SHARED.lock() else {
            return INTERNAL_FAILURE;
        };
        match shared.as_ref().and_then(|map| map.get(call.key)) {
            Some((value, cas)) => {
                *call.return_value = value.clone();
                *call.return_cas = *cas;
                OK
            }
            None => NOT_FOUND,
        }
    }

    fn proxy_set_shared_data(&self, call: proxy_set_shared_data::Args<'_>) -> u32 {
        let Ok(mut shared) = SHARED.lock() else {
            return INTERNAL_FAILURE;
        };
        let map = shared.get_or_insert_with(HashMap::new);
        // As Envoy: a non-zero cas must match the key's version, if the key exists.
        let version = match map.get(call.key) {
            Some((_, version)) if call.cas != 0 && call.cas != *version => {
                return Status::CasMismatch.raw();
            }
            Some((_, version)) => version.wrapping_add(1).max(1),
            None => 1,
        };
        map.insert(call.key.to_vec(), (call.value.to_vec(), version));
        OK
    }
}

impl ForeignHost for NativeHost {
    /// The foreign functions Envoy offers a Wasm filter that have a dynamic-module
    /// counterpart.
    fn proxy_call_foreign_function(&self, call: proxy_call_foreign_function::Args<'_>) -> u32 {
        let Some(filter) = self.filter() else {
            return NOT_FOUND;
        };
        match call.name {
            b"clear_route_cache" => match envoy!(http_clear_route_cache(filter)) {
                Some(()) => OK,
                None => UNIMPLEMENTED,
            },
            b"set_envoy_filter_state" => {
                let Some((key, value)) = crate::foreign::filter_state_arguments(call.arguments)
                else {
                    return BAD_ARGUMENT;
                };
                let set = envoy!(http_set_filter_state_typed(
                    filter,
                    ModuleBuffer::of(&key),
                    ModuleBuffer::of(&value)
                ));
                match set {
                    Some(true) => OK,
                    Some(false) => BAD_ARGUMENT,
                    None => UNIMPLEMENTED,
                }
            }
            _ => NOT_FOUND,
        }
    }
}

impl SharedQueueHost for NativeHost {}
impl GrpcHost for NativeHost {}
