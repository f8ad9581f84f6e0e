//! gRPC streams, and the status codes gRPC calls end with.
//!
//! A plugin or a filter opens a stream to a method on an Envoy cluster (HTTP/2) and gets a
//! [`GrpcStream`] handle: it sends messages, ends its side, closes or cancels. Whatever the
//! service sends back reaches one handler, a closure or a method, as
//! [`GrpcStreamEvent`]s: the initial metadata, each message, the trailing metadata, and
//! once, the close with its [`GrpcStatus`]. No tokens in user code. The same API serves
//! the three kinds of stream: a client stream sends many messages then
//! [`send_last`](GrpcStream::send_last)s; a server stream sends one with `send_last` and
//! receives many; a bidirectional stream does both.
//!
//! A plugin keeps a long-lived stream (a log shipper, say) with
//! [`ConfigureOps::grpc_stream`](crate::ConfigureOps::grpc_stream) or
//! [`PluginOps::grpc_stream`](crate::PluginOps::grpc_stream); its handler gets the plugin.
//! A filter opens one for its stream with `grpc_stream` on its phase objects; its handler
//! gets the filter, like a callout's, and the stream is cancelled when the filter's HTTP
//! stream ends. Any context may [`send`](GrpcStream::send) on any stream of its plugin.
//! On the native target (Envoy dynamic modules) a filter's streams work the same, each an
//! HTTP/2 stream Envoy starts for the request; a plugin's are Wasm only (deprecated under
//! the `dynamic-module` feature).
//!
//! ```
//! use envoy_wasm_sdk::grpc::{GrpcStatus, GrpcStream, GrpcStreamEvent, GrpcStreamRequest};
//! use envoy_wasm_sdk::prelude::*;
//! use envoy_wasm_sdk::service::NoFilter;
//! use std::cell::Cell;
//! use std::rc::Rc;
//!
//! /// Sends a heartbeat message every second on one client stream.
//! struct Heartbeat {
//!     stream: Cell<Option<GrpcStream>>,
//! }
//!
//! impl Plugin for Heartbeat {
//!     type Config = ();
//!     type Filter = NoFilter;
//!
//!     fn configure(_: (), ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
//!         let open = GrpcStreamRequest::new("collector", "beat.v1.Beats", "Send");
//!         let stream = ctx.grpc_stream(open, Heartbeat::on_event)?;
//!         ctx.every("beat", std::time::Duration::from_secs(1), |plugin, _ops| {
//!             if let Some(stream) = plugin.stream.get() {
//!                 let _ = stream.send(b"\x08\x01"); // a serialized message
//!             }
//!         })?;
//!         Ok(Heartbeat { stream: Cell::new(Some(stream)) })
//!     }
//!
//!     fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<NoFilter> {
//!         Some(NoFilter)
//!     }
//! }
//!
//! impl Heartbeat {
//!     fn on_event(&self, event: GrpcStreamEvent, _ops: &mut PluginOps<Self>) {
//!         match event {
//!             GrpcStreamEvent::Closed { status: GrpcStatus::Ok, .. } => self.stream.set(None),
//!             GrpcStreamEvent::Closed { status, message } => {
//!                 log::warn!("the collector closed the stream: {status} {message}");
//!                 self.stream.set(None);
//!             }
//!             _ => {}
//!         }
//!     }
//! }
//! ```
//!
//! How a stream ends, each a typed outcome:
//! - it cannot open (a cluster Envoy does not know, bad metadata): `grpc_stream` returns
//!   the error at once;
//! - the service is down, resets the stream or ends it: the handler gets
//!   [`GrpcStreamEvent::Closed`] with the status (`Unavailable` for a service Envoy cannot
//!   reach), then nothing more;
//! - a message larger than the request allows: the SDK cancels the stream and the handler
//!   gets `Closed` with `ResourceExhausted`;
//! - the plugin or filter [`cancel`](GrpcStream::cancel)s it: nothing more arrives, and
//!   later sends fail with the host's `NotFound`.

use crate::abi::MapType;
use crate::headers::{HeaderList, HeaderResult, check_header};
use crate::host::{self, HostResult};
use std::cell::Cell;
use std::fmt;

/// A gRPC status code (`google.rpc.Code`); codes outside the standard set are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrpcStatus {
    /// 0: not an error.
    Ok,
    /// 1: cancelled, typically by the caller.
    Cancelled,
    /// 2: unknown error.
    Unknown,
    /// 3: the client sent an invalid argument.
    InvalidArgument,
    /// 4: the deadline passed before the operation completed.
    DeadlineExceeded,
    /// 5: an entity was not found.
    NotFound,
    /// 6: the entity already exists.
    AlreadyExists,
    /// 7: the caller may not do this.
    PermissionDenied,
    /// 8: a resource (a quota, a size limit) is exhausted.
    ResourceExhausted,
    /// 9: the system is not in a state the operation needs.
    FailedPrecondition,
    /// 10: the operation was aborted.
    Aborted,
    /// 11: out of the valid range.
    OutOfRange,
    /// 12: not implemented or not supported.
    Unimplemented,
    /// 13: an internal error.
    Internal,
    /// 14: the service is unavailable (down, unreachable): usually worth a retry.
    Unavailable,
    /// 15: unrecoverable data loss.
    DataLoss,
    /// 16: no valid authentication credentials.
    Unauthenticated,
    /// Any other code, as it came.
    Other(u32),
}

impl GrpcStatus {
    /// The status of `code`.
    pub const fn from_code(code: u32) -> GrpcStatus {
        match code {
            0 => GrpcStatus::Ok,
            1 => GrpcStatus::Cancelled,
            2 => GrpcStatus::Unknown,
            3 => GrpcStatus::InvalidArgument,
            4 => GrpcStatus::DeadlineExceeded,
            5 => GrpcStatus::NotFound,
            6 => GrpcStatus::AlreadyExists,
            7 => GrpcStatus::PermissionDenied,
            8 => GrpcStatus::ResourceExhausted,
            9 => GrpcStatus::FailedPrecondition,
            10 => GrpcStatus::Aborted,
            11 => GrpcStatus::OutOfRange,
            12 => GrpcStatus::Unimplemented,
            13 => GrpcStatus::Internal,
            14 => GrpcStatus::Unavailable,
            15 => GrpcStatus::DataLoss,
            16 => GrpcStatus::Unauthenticated,
            other => GrpcStatus::Other(other),
        }
    }

    /// Its numeric code.
    pub const fn code(self) -> u32 {
        match self {
            GrpcStatus::Ok => 0,
            GrpcStatus::Cancelled => 1,
            GrpcStatus::Unknown => 2,
            GrpcStatus::InvalidArgument => 3,
            GrpcStatus::DeadlineExceeded => 4,
            GrpcStatus::NotFound => 5,
            GrpcStatus::AlreadyExists => 6,
            GrpcStatus::PermissionDenied => 7,
            GrpcStatus::ResourceExhausted => 8,
            GrpcStatus::FailedPrecondition => 9,
            GrpcStatus::Aborted => 10,
            GrpcStatus::OutOfRange => 11,
            GrpcStatus::Unimplemented => 12,
            GrpcStatus::Internal => 13,
            GrpcStatus::Unavailable => 14,
            GrpcStatus::DataLoss => 15,
            GrpcStatus::Unauthenticated => 16,
            GrpcStatus::Other(code) => code,
        }
    }
}

/// `UNAVAILABLE (14)`, as gRPC spells them.
impl fmt::Display for GrpcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            GrpcStatus::Ok => "OK",
            GrpcStatus::Cancelled => "CANCELLED",
            GrpcStatus::Unknown => "UNKNOWN",
            GrpcStatus::InvalidArgument => "INVALID_ARGUMENT",
            GrpcStatus::DeadlineExceeded => "DEADLINE_EXCEEDED",
            GrpcStatus::NotFound => "NOT_FOUND",
            GrpcStatus::AlreadyExists => "ALREADY_EXISTS",
            GrpcStatus::PermissionDenied => "PERMISSION_DENIED",
            GrpcStatus::ResourceExhausted => "RESOURCE_EXHAUSTED",
            GrpcStatus::FailedPrecondition => "FAILED_PRECONDITION",
            GrpcStatus::Aborted => "ABORTED",
            GrpcStatus::OutOfRange => "OUT_OF_RANGE",
            GrpcStatus::Unimplemented => "UNIMPLEMENTED",
            GrpcStatus::Internal => "INTERNAL",
            GrpcStatus::Unavailable => "UNAVAILABLE",
            GrpcStatus::DataLoss => "DATA_LOSS",
            GrpcStatus::Unauthenticated => "UNAUTHENTICATED",
            GrpcStatus::Other(_) => "code",
        };
        write!(f, "{name} ({})", self.code())
    }
}

/// The largest stream message read by default, as for a callout's response
/// ([`callout::DEFAULT_MAX_RESPONSE_BYTES`](crate::callout::DEFAULT_MAX_RESPONSE_BYTES)).
const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A stream to open: `service/method` on a cluster, with initial metadata.
#[derive(Clone, Debug)]
pub struct GrpcStreamRequest {
    pub(crate) cluster: String,
    pub(crate) service: String,
    pub(crate) method: String,
    pub(crate) metadata: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) max_message_bytes: usize,
}

impl GrpcStreamRequest {
    /// A stream to `service/method` (`"pkg.Service"`, `"Method"`) on `cluster`.
    pub fn new(cluster: &str, service: &str, method: &str) -> GrpcStreamRequest {
        GrpcStreamRequest {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            method: method.to_owned(),
            metadata: Vec::new(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }

    /// Adds initial metadata (its name lower-cased, as Envoy stores names).
    pub fn metadata(
        mut self,
        name: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> GrpcStreamRequest {
        self.metadata
            .push((name.as_ref().to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    /// Sets the largest message the stream takes (default 1 MiB); a larger one cancels the
    /// stream, and the handler gets `Closed` with `ResourceExhausted`.
    pub fn max_message_bytes(mut self, limit: usize) -> GrpcStreamRequest {
        self.max_message_bytes = limit;
        self
    }

    /// Opens the stream; metadata that could split the request is refused first.
    pub(crate) fn open(&self) -> HeaderResult<GrpcStream> {
        for (name, value) in &self.metadata {
            check_header(MapType::GrpcReceiveInitialMetadata, name, value)?;
        }
        let token = host::callouts::grpc_stream(
            &self.cluster,
            &self.service,
            &self.method,
            &self.metadata,
        )?;
        Ok(GrpcStream { token })
    }
}

/// What a stream brings, in order: metadata, messages, trailers, then its close.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrpcStreamEvent {
    /// The service's initial metadata: the service accepted the stream. (A response that
    /// ends the stream in its first headers, "Trailers-Only", comes as `TrailingMetadata`;
    /// a stream Envoy could not open brings no `InitialMetadata`, only its close.)
    InitialMetadata(HeaderList),
    /// One serialized message.
    Message(Vec<u8>),
    /// The service's trailing metadata.
    TrailingMetadata(HeaderList),
    /// The stream is over (last event): `Ok`, or why not.
    Closed {
        /// The status the stream ended with.
        status: GrpcStatus,
        /// Its message.
        message: String,
    },
}

/// An open gRPC stream: a handle to send on, close or cancel it. Copy it where it is
/// needed (into a filter, a timer); it works from any context of the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GrpcStream {
    token: u32,
}

impl GrpcStream {
    /// The host's token of this stream.
    pub fn token(&self) -> u32 {
        self.token
    }

    /// Sends one serialized message.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)): `NotFound` once the
    /// stream is gone (cancelled, or closed and forgotten).
    pub fn send(&self, message: &[u8]) -> HostResult<()> {
        host::callouts::grpc_send(self.token, message, false)
    }

    /// Sends the last message and ends this side of the stream.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_last(&self, message: &[u8]) -> HostResult<()> {
        host::callouts::grpc_send(self.token, message, true)
    }

    /// Ends this side of the stream without a message; the service may still answer, and
    /// the handler still gets its close.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn close(&self) -> HostResult<()> {
        host::callouts::grpc_close(self.token)
    }

    /// Cancels the stream (resets it): nothing more arrives, the handler is dropped, and
    /// later sends fail with `NotFound`.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn cancel(&self) -> HostResult<()> {
        let cancelled = host::callouts::grpc_cancel(self.token);
        forget(self.token);
        cancelled
    }

    /// Sends `message`, serialized with `prost`.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    #[cfg(feature = "prost")]
    pub fn send_message<M: prost::Message>(&self, message: &M) -> HostResult<()> {
        self.send(&message.encode_to_vec())
    }
}

#[cfg(feature = "prost")]
impl GrpcStreamEvent {
    /// The message of a [`Message`](GrpcStreamEvent::Message) event, decoded with `prost`;
    /// `None` for other events.
    ///
    /// # Errors
    /// `prost`'s error for bytes that are not an `M`.
    pub fn decode<M: prost::Message + Default>(&self) -> Option<Result<M, prost::DecodeError>> {
        match self {
            GrpcStreamEvent::Message(bytes) => Some(M::decode(bytes.as_slice())),
            _ => None,
        }
    }
}

thread_local! {
    /// Forgets a cancelled stream's handler: installed by the runtime with the first
    /// stream, so the user API need not know where handlers live.
    static FORGET: Cell<Option<fn(u32)>> = const { Cell::new(None) };
}

/// Installs the runtime's forgetter of cancelled streams.
pub(crate) fn on_cancel(forget: fn(u32)) {
    FORGET.with(|slot| slot.set(Some(forget)));
}

fn forget(token: u32) {
    if let Some(forget) = FORGET.with(Cell::get) {
        forget(token);
    }
}

/// A gRPC callout event, as Envoy delivers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrpcEvent {
    /// Initial metadata with this many entries.
    InitialMetadata(usize),
    /// A message of this many bytes.
    Message(usize),
    /// Trailing metadata with this many entries.
    TrailingMetadata(usize),
    /// The call closed with this gRPC status.
    Close(u32),
}

/// Reads a stream event as Envoy delivers it (on the plugin's context); `None` for one
/// that brings nothing (Envoy 1.40 announces empty initial metadata for a stream it could
/// not open, just before its close: no service answered). A message over `limit` is not
/// read: the stream is cancelled, and it reads as `Closed` with `ResourceExhausted`; the
/// `bool` says whether the SDK cancelled the stream.
pub(crate) fn read_event(
    token: u32,
    event: GrpcEvent,
    limit: usize,
) -> (Option<GrpcStreamEvent>, bool) {
    use crate::abi::BufferType;
    let closed = |status, message: String| GrpcStreamEvent::Closed { status, message };
    let read = match event {
        GrpcEvent::InitialMetadata(0) => return (None, false),
        // A "Trailers-Only" response (the service, or Envoy for a service it cannot
        // reach, ends the stream in its first headers: they carry `grpc-status`) brings
        // trailers, not the service's acceptance of the stream.
        GrpcEvent::InitialMetadata(_) => {
            HeaderList::read(crate::abi::Via::HOST, MapType::GrpcReceiveInitialMetadata).map(
                |list| {
                    if list.get("grpc-status").is_some() {
                        GrpcStreamEvent::TrailingMetadata(list)
                    } else {
                        GrpcStreamEvent::InitialMetadata(list)
                    }
                },
            )
        }
        GrpcEvent::TrailingMetadata(_) => {
            HeaderList::read(crate::abi::Via::HOST, MapType::GrpcReceiveTrailingMetadata)
                .map(GrpcStreamEvent::TrailingMetadata)
        }
        GrpcEvent::Message(size) if size > limit => {
            let _ = host::callouts::grpc_cancel(token);
            let why = format!("a message of {size} bytes, more than the {limit} allowed");
            return (Some(closed(GrpcStatus::ResourceExhausted, why)), true);
        }
        GrpcEvent::Message(size) => host::buffers::get(BufferType::GrpcReceiveBuffer, 0, size)
            .map(|bytes| GrpcStreamEvent::Message(bytes.unwrap_or_default())),
        GrpcEvent::Close(code) => {
            let message = host::callouts::status()
                .map(|(_, message)| String::from_utf8_lossy(&message).into_owned())
                .unwrap_or_default();
            Ok(closed(GrpcStatus::from_code(code), message))
        }
    };
    match read {
        Ok(event) => (Some(event), false),
        Err(error) => {
            let _ = host::callouts::grpc_cancel(token);
            (Some(closed(GrpcStatus::Internal, error.to_string())), true)
        }
    }
}
