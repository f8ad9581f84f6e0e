//! The host side of every ABI call, with Envoy's semantics, over per-emulator state.

// One file per ABI area, as in `crate::host`.
mod buffers;
mod callouts;
mod context;
mod foreign;
mod headers;
mod log;
mod metrics;
mod properties;
mod shared;
mod stream;
mod time;

// The host traits and, per call, the module with its `Args`.
use crate::abi::imports::*;
use crate::abi::{BufferType, LogLevel, MapType, MetricType, Status, StreamType, pairs};
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
    /// A stream (`proxy_grpc_stream`), not a unary call.
    pub stream: bool,
    /// The filter ended its side: `send_last`, or a close.
    pub half_closed: bool,
    /// The filter cancelled it (later sends fail with `NotFound`, as in Envoy).
    pub cancelled: bool,
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

/// The request or the response: each stream has both, handled alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Request,
    Response,
}

/// One direction of a stream as the host sees it.
#[derive(Default, Debug)]
pub(crate) struct Side {
    pub headers: Pairs,
    pub trailers: Pairs,
    pub body: Vec<u8>,
    /// The filter resumed this direction (`proxy_continue_stream`).
    pub resumed: bool,
    /// Envoy lets a filter reach these headers only in their own callback, while it holds
    /// them there, and in `on_log`.
    pub headers_open: bool,
}

/// State of one HTTP stream as the host sees it.
#[derive(Default, Debug)]
pub(crate) struct StreamState {
    pub request: Side,
    pub response: Side,
    pub local_reply: Option<SentReply>,
    pub reset: bool,
    /// The clock when the stream began (`request.time`).
    pub started_nanos: u64,
}

impl StreamState {
    pub fn side(&mut self, direction: Direction) -> &mut Side {
        match direction {
            Direction::Request => &mut self.request,
            Direction::Response => &mut self.response,
        }
    }
}

/// One TCP connection as the host sees it: the bytes each direction holds for the filter
/// (what arrived and was not let through yet), and what the filter asked for.
#[derive(Default, Debug)]
pub(crate) struct ConnectionState {
    pub downstream: Vec<u8>,
    pub upstream: Vec<u8>,
    /// The filter resumed the client's bytes (`proxy_continue_stream(Downstream)`).
    pub resumed: bool,
    /// The filter closed the connection (`proxy_close_stream`, either side).
    pub close_requested: bool,
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
    pub connections: HashMap<u32, ConnectionState>,
    pub stream_roots: HashMap<u32, u32>,
    pub roots: Vec<u32>,
    /// Each plugin's name and root id (its `plugin_name` and `plugin_root_id`), by root
    /// context.
    pub plugin_names: HashMap<u32, (Vec<u8>, Vec<u8>)>,
    pub plugin_configuration: Vec<u8>,
    pub vm_configuration: Vec<u8>,
    pub foreign_arguments: Vec<u8>,
    pub properties: BTreeMap<Vec<u8>, Vec<u8>>,
    pub properties_read: Vec<String>,
    pub now_nanos: u64,
    /// Each plugin's tick: its period in milliseconds and when it was set (Envoy starts
    /// a new timer then).
    pub tick_periods: HashMap<u32, (u32, u64)>,
    pub metrics: Vec<Metric>,
    pub shared_data: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    /// The last shared-data version given out (Envoy numbers versions across all keys).
    pub shared_version: u32,
    /// Another worker's writes, each made right after a read of its key: value and how
    /// many reads are still to be followed by one.
    pub interfering_writes: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    /// Attributes Envoy lacks that the test declared its host has (`route_name`, ...).
    pub host_attributes: Vec<Vec<u8>>,
    pub queues: Vec<Queue>,
    pub ready_queues: Vec<(u32, u32)>,
    pub vm_id: String,
    pub next_token: u32,
    pub http_calls: Vec<HttpCall>,
    pub grpc_calls: Vec<GrpcCall>,
    pub callout: CalloutAnswer,
    pub grpc_message: Vec<u8>,
    pub foreign: HashMap<String, ForeignFunction>,
}

impl Default for State {
    fn default() -> Self {
        State {
            log_level: LogLevel::Trace,
            logs: Vec::new(),
            effective_context: 0,
            streams: HashMap::new(),
            connections: HashMap::new(),
            stream_roots: HashMap::new(),
            roots: Vec::new(),
            plugin_names: HashMap::new(),
            plugin_configuration: Vec::new(),
            vm_configuration: Vec::new(),
            foreign_arguments: Vec::new(),
            properties: BTreeMap::new(),
            properties_read: Vec::new(),
            // 2026-01-01T00:00:00Z: a fixed clock makes tests repeatable.
            now_nanos: 1_767_225_600_000_000_000,
            tick_periods: HashMap::new(),
            metrics: Vec::new(),
            shared_data: HashMap::new(),
            shared_version: 0,
            interfering_writes: HashMap::new(),
            host_attributes: Vec::new(),
            queues: Vec::new(),
            ready_queues: Vec::new(),
            vm_id: String::new(),
            next_token: 1,
            http_calls: Vec::new(),
            grpc_calls: Vec::new(),
            callout: CalloutAnswer::default(),
            grpc_message: Vec::new(),
            foreign: HashMap::new(),
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

    fn connection(&mut self) -> Option<&mut ConnectionState> {
        let id = self.effective_context;
        self.connections.get_mut(&id)
    }

    /// The map `map_type` of the effective context, if it has one.
    fn map(&mut self, map_type: u32) -> Option<&mut Pairs> {
        let is_owner = self.effective_context == self.callout.owner;
        match MapType::from_raw(map_type)? {
            MapType::HttpRequestHeaders => self
                .stream()
                .filter(|s| s.request.headers_open)
                .map(|s| &mut s.request.headers),
            MapType::HttpRequestTrailers => self.stream().map(|s| &mut s.request.trailers),
            MapType::HttpResponseHeaders => self
                .stream()
                .filter(|s| s.response.headers_open)
                .map(|s| &mut s.response.headers),
            MapType::HttpResponseTrailers => self.stream().map(|s| &mut s.response.trailers),
            MapType::GrpcReceiveInitialMetadata | MapType::HttpCallResponseHeaders if is_owner => {
                Some(&mut self.callout.headers)
            }
            MapType::GrpcReceiveTrailingMetadata | MapType::HttpCallResponseTrailers
                if is_owner =>
            {
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
        let is_owner = self.effective_context == self.callout.owner;
        match BufferType::from_raw(buffer_type)? {
            BufferType::HttpRequestBody => self.stream().map(|s| &mut s.request.body),
            BufferType::HttpResponseBody => self.stream().map(|s| &mut s.response.body),
            BufferType::DownstreamData => self.connection().map(|c| &mut c.downstream),
            BufferType::UpstreamData => self.connection().map(|c| &mut c.upstream),
            BufferType::HttpCallResponseBody if is_owner => Some(&mut self.callout.body),
            BufferType::GrpcReceiveBuffer if is_owner => Some(&mut self.grpc_message),
            BufferType::VmConfiguration => Some(&mut self.vm_configuration),
            BufferType::PluginConfiguration => Some(&mut self.plugin_configuration),
            BufferType::ForeignFunctionArguments => Some(&mut self.foreign_arguments),
            _ => None,
        }
    }

    /// What Envoy 1.40 answers for `path` now: nothing where Envoy has no such attribute
    /// at this point of the stream (see [`ENVOY_LACKS`], [`REQUEST_LINE`], [`AFTER_RESPONSE`];
    /// `tests/tests/properties.rs` checks these facts in Envoy), else [`State::property`].
    pub(crate) fn attribute(&mut self, path: &[u8]) -> Option<Vec<u8>> {
        let named = |list: &[&str]| list.iter().any(|p| p.as_bytes() == path);
        if named(ENVOY_LACKS) && !self.host_attributes.iter().any(|p| p == path) {
            return None;
        }
        // The response has begun once its headers are there.
        let responding = self
            .streams
            .get(&self.effective_context)
            .is_some_and(|s| !s.response.headers.is_empty());
        if (responding && named(REQUEST_LINE)) || (!responding && named(AFTER_RESPONSE)) {
            return None;
        }
        self.property(path)
    }

    /// Properties Envoy derives from the stream, else the scripted ones, else what Envoy
    /// always has (`tests/tests/properties.rs` compares the whole set with Envoy's).
    fn property(&mut self, path: &[u8]) -> Option<Vec<u8>> {
        if let Some(scripted) = self.scripted_property(path) {
            return Some(scripted);
        }
        let int = |value: i64| Some(value.to_le_bytes().to_vec());
        let stream = self.streams.get(&self.effective_context);
        let request_header = |name: &[u8]| -> Option<Vec<u8>> {
            let headers = &stream?.request.headers;
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let path_header = || request_header(b":path");
        let size = |bytes: usize| int(i64::try_from(bytes).unwrap_or(i64::MAX));
        let headers_size =
            |headers: &Pairs| -> usize { headers.iter().map(|(k, v)| k.len() + v.len()).sum() };
        match path {
            b"request\0path" => path_header(),
            b"request\0url_path" => {
                path_header().map(|p| p.split(|b| *b == b'?').next().unwrap_or_default().to_vec())
            }
            b"request\0query" => {
                let path = path_header()?;
                let at = path.iter().position(|b| *b == b'?')?;
                Some(path[at + 1..].to_vec())
            }
            b"request\0method" => request_header(b":method"),
            b"request\0host" => request_header(b":authority"),
            b"request\0scheme" => request_header(b":scheme"),
            b"request\0id" => request_header(b"x-request-id"),
            b"request\0referer" => request_header(b"referer"),
            b"request\0useragent" => request_header(b"user-agent"),
            b"request\0protocol" => stream.map(|_| b"HTTP/1.1".to_vec()),
            b"request\0time" => int(i64::try_from(stream?.started_nanos).ok()?),
            b"request\0headers" => stream.map(|s| pairs::encode(&s.request.headers)),
            b"request\0size" => size(stream?.request.body.len()),
            b"request\0total_size" => {
                let request = &stream?.request;
                size(headers_size(&request.headers) + request.body.len())
            }
            b"response\0code" => {
                let status = stream?
                    .response
                    .headers
                    .iter()
                    .find(|(k, _)| k == b":status")?;
                int(std::str::from_utf8(&status.1).ok()?.parse().ok()?)
            }
            b"response\0code_details" => {
                let stream = stream?;
                let details = stream.local_reply.as_ref().map(|r| r.details.as_str());
                Some(details.unwrap_or("via_upstream").as_bytes().to_vec())
            }
            // What Envoy derives for a plain HTTP response (no `grpc-status`): OK.
            b"response\0grpc_status" => stream.and(int(0)),
            b"response\0headers" => stream.map(|s| pairs::encode(&s.response.headers)),
            b"response\0trailers" => stream.map(|s| pairs::encode(&s.response.trailers)),
            b"response\0flags" => stream.and(int(0)),
            b"response\0size" => size(stream?.response.body.len()),
            b"response\0total_size" => {
                let response = &stream?.response;
                size(headers_size(&response.headers) + response.body.len())
            }
            b"upstream\0address" => stream.map(|_| b"127.0.0.1:8080".to_vec()),
            b"upstream\0port" => stream.and(int(8080)),
            b"upstream\0local_address" => stream.map(|_| b"127.0.0.1:50000".to_vec()),
            b"upstream\0transport_failure_reason" => stream.map(|_| Vec::new()),
            b"upstream\0request_attempt_count" => stream.and(int(1)),
            // Each context sees its own plugin's name, as in Envoy.
            b"plugin_name" | b"plugin_root_id" => {
                let root = self.root_of(self.effective_context);
                let (name, root_id) = self.plugin_names.get(&root)?;
                Some(
                    if path == b"plugin_name" {
                        name
                    } else {
                        root_id
                    }
                    .clone(),
                )
            }
            _ => connection_default(path),
        }
    }

    /// What the test set at `path` (the router's `xds.*` included).
    fn scripted_property(&self, path: &[u8]) -> Option<Vec<u8>> {
        let own_name = matches!(path, b"plugin_name" | b"plugin_root_id")
            && self
                .plugin_names
                .contains_key(&self.root_of(self.effective_context));
        if own_name {
            return None;
        }
        self.properties.get(path).cloned()
    }
}

/// Attributes upstream Envoy 1.40 does not have at all (Higress's Envoy sets the first
/// two); a test that emulates such a host declares them
/// ([`Emulator::declare_host_attribute`](crate::testing::Emulator::declare_host_attribute)).
/// Paths are `\0`-separated, as the host receives them.
const ENVOY_LACKS: &[&str] = &["route_name", "cluster_name", "listener_direction"];

/// Attributes of the request line: Envoy answers them at request time only.
const REQUEST_LINE: &[&str] = &[
    "request\0path",
    "request\0url_path",
    "request\0host",
    "request\0scheme",
    "request\0method",
    "request\0referer",
    "request\0useragent",
    "request\0id",
    "request\0query",
];

/// Attributes Envoy has only once the response has begun.
const AFTER_RESPONSE: &[&str] = &[
    "response\0code",
    "response\0code_details",
    "response\0grpc_status",
    "upstream\0address",
    "upstream\0port",
    "upstream\0local_address",
    "upstream\0transport_failure_reason",
];

/// What Envoy always knows of a connection and its route, for a test that does not set
/// it: a downstream peer on loopback, the listener's address, plain text, unnamed xDS
/// resources.
fn connection_default(path: &[u8]) -> Option<Vec<u8>> {
    let int = |value: i64| Some(value.to_le_bytes().to_vec());
    match path {
        b"source\0address" => Some(b"127.0.0.1:40000".to_vec()),
        b"source\0port" => int(40000),
        b"destination\0address" => Some(b"127.0.0.1:10000".to_vec()),
        b"destination\0port" => int(10000),
        b"connection\0id" => Some(1u64.to_le_bytes().to_vec()),
        b"connection\0mtls" => Some(vec![0]),
        b"connection\0requested_server_name" => Some(Vec::new()),
        b"xds\0route_name"
        | b"xds\0cluster_name"
        | b"xds\0virtual_host_name"
        | b"xds\0filter_chain_name" => Some(Vec::new()),
        b"xds\0listener_direction" => int(0),
        _ => None,
    }
}
