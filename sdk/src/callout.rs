//! Calls to other services from a filter: HTTP and unary gRPC, each response handled in a
//! closure or a method.
//!
//! A filter starts a call from a callback, returns [`Action::Pause`](crate::Action::Pause),
//! and its handler runs when the response (or the failure) arrives, with the filter itself
//! and the operations valid then: resume the request, answer it, or call again. The handler
//! is typed by the filter (the phase objects carry its type, `RequestHeadersOps<Self>`), so
//! an inline closure needs no annotations, a method such as `Self::decide` fits as it is,
//! and nothing is checked at run time. No tokens, no bookkeeping in user code.
//!
//! ```
//! use envoy_wasm_sdk::callout::HttpRequest;
//! use envoy_wasm_sdk::prelude::*;
//! use std::time::Duration;
//!
//! struct Auth {
//!     user: Option<String>,
//! }
//!
//! #[http_filter]
//! impl HttpFilter for Auth {
//!     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
//!         let token = req.headers().get_str("authorization")?.unwrap_or_default();
//!         let check = HttpRequest::get("auth_service", "/check")
//!             .header("authorization", token)
//!             .timeout(Duration::from_millis(500));
//!         req.http_call(check, |this, response, ops| {
//!             match response {
//!                 Ok(response) if response.status == 200 => {
//!                     this.user = response.header("x-user").map(str::to_owned);
//!                     ops.resume_request()?;
//!                 }
//!                 Ok(_) => ops.respond(LocalReply::new(403))?,
//!                 Err(failure) => return Err(Error::with_status(503, format!("auth: {failure}"))),
//!             }
//!             Ok(())
//!         })?;
//!         Ok(Action::Pause)
//!     }
//! }
//! ```

use crate::abi::{BufferType, MapType, StreamType};
use crate::error::Error;
use crate::grpc::{GrpcStatus, GrpcStream, GrpcStreamEvent};
use crate::headers::{HeaderResult, HeaderValue, HeadersMut, check_header};
use crate::host::{self, HostError, HostResult};
use crate::properties::Properties;
use crate::reply::LocalReply;
use std::fmt;
use std::time::Duration;

/// How long a call may take when the request does not say: 1 second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// The largest response a call takes when the request does not say: 1 MiB (Envoy's default
/// buffer limit). A larger one is not read: the handler gets [`CalloutError::TooLarge`].
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1 << 20;

/// An HTTP request to an Envoy cluster.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub(crate) cluster: String,
    pub(crate) headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
}

impl HttpRequest {
    /// `method path` to `cluster` (its name in Envoy's configuration); `:authority` is the
    /// cluster name unless set with [`authority`](HttpRequest::authority).
    pub fn new(cluster: &str, method: &str, path: &str) -> HttpRequest {
        HttpRequest {
            cluster: cluster.to_owned(),
            headers: vec![
                (b":method".to_vec(), method.as_bytes().to_vec()),
                (b":path".to_vec(), path.as_bytes().to_vec()),
                (b":authority".to_vec(), cluster.as_bytes().to_vec()),
            ],
            body: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// `GET path` to `cluster`.
    pub fn get(cluster: &str, path: &str) -> HttpRequest {
        HttpRequest::new(cluster, "GET", path)
    }

    /// `POST path` to `cluster` with `body`.
    pub fn post(cluster: &str, path: &str, body: impl Into<Vec<u8>>) -> HttpRequest {
        HttpRequest::new(cluster, "POST", path).body(body)
    }

    /// Sets `:authority`, replacing the one there is.
    pub fn authority(mut self, authority: &str) -> HttpRequest {
        let value = authority.as_bytes().to_vec();
        match self
            .headers
            .iter_mut()
            .find(|(name, _)| name == b":authority")
        {
            Some((_, old)) => *old = value,
            None => self.headers.push((b":authority".to_vec(), value)),
        }
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> HttpRequest {
        self.headers
            .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> HttpRequest {
        self.body = body.into();
        self
    }

    /// Sets how long the call may take (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> HttpRequest {
        self.timeout = timeout;
        self
    }

    /// Sets the largest response body the call takes (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`]); a larger one is [`CalloutError::TooLarge`].
    pub fn max_response_bytes(mut self, limit: usize) -> HttpRequest {
        self.max_response_bytes = limit;
        self
    }

    /// Sends the request; a header that could split it is refused first.
    pub(crate) fn dispatch(&self) -> HeaderResult<u32> {
        for (name, value) in &self.headers {
            check_header(MapType::HttpRequestHeaders, name, value)?;
        }
        let no_trailers: [(Vec<u8>, Vec<u8>); 0] = [];
        Ok(host::callouts::http_call(
            &self.cluster,
            &self.headers,
            &self.body,
            &no_trailers,
            self.timeout,
        )?)
    }
}

/// The response to an HTTP call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// `:status`.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, HeaderValue)>,
    /// Body.
    pub body: Vec<u8>,
    /// Trailers.
    pub trailers: Vec<(String, HeaderValue)>,
}

impl HttpResponse {
    /// The first value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    }

    /// Reads the response being delivered (in `proxy_on_http_call_response`).
    pub(crate) fn read(body_size: usize) -> HostResult<HttpResponse> {
        let headers = header_pairs(MapType::HttpCallResponseHeaders)?;
        let status = headers
            .iter()
            .find(|(k, _)| k == ":status")
            .and_then(|(_, v)| v.as_str()?.parse().ok())
            .unwrap_or(0);
        let body = if body_size == 0 {
            Vec::new()
        } else {
            host::buffers::get(BufferType::HttpCallResponseBody, 0, body_size)?.unwrap_or_default()
        };
        Ok(HttpResponse {
            status,
            headers,
            body,
            trailers: header_pairs(MapType::HttpCallResponseTrailers)?,
        })
    }
}

/// The pairs of header map `map`, names as text.
pub(crate) fn header_pairs(map: MapType) -> HostResult<Vec<(String, HeaderValue)>> {
    Ok(host::headers::pairs(map)?
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                HeaderValue::from_host(v),
            )
        })
        .collect())
}

/// Why a call brought no response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CalloutError {
    /// No response came within the call's timeout.
    Timeout,
    /// The call failed without a response from the service: the connection was refused or
    /// reset, or no upstream host was available. Envoy's reason, if it gave one.
    Failed(String),
    /// A gRPC call ended with a status other than `Ok`.
    Grpc {
        /// The status (`Unavailable`, `DeadlineExceeded`, ...).
        status: GrpcStatus,
        /// The status message.
        message: String,
    },
    /// The filter's context went away before the response could be read.
    Host(HostError),
    /// The response body (or gRPC message) is larger than the request allows
    /// (`max_response_bytes`); it was not read.
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// What the request allows.
        limit: usize,
    },
}

impl fmt::Display for CalloutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalloutError::Timeout => f.write_str("the call timed out"),
            CalloutError::Failed(reason) if reason.is_empty() => f.write_str("the call failed"),
            CalloutError::Failed(reason) => write!(f, "the call failed: {reason}"),
            CalloutError::Grpc { status, message } => {
                write!(f, "gRPC status {status}: {message}")
            }
            CalloutError::Host(error) => write!(f, "{error}"),
            CalloutError::TooLarge { size, limit } => {
                write!(
                    f,
                    "the response has {size} bytes, more than the {limit} allowed"
                )
            }
        }
    }
}

impl std::error::Error for CalloutError {}

/// A unary gRPC request: serialized message in, serialized message out.
#[derive(Clone, Debug)]
pub struct GrpcRequest {
    pub(crate) cluster: String,
    pub(crate) service: String,
    pub(crate) method: String,
    pub(crate) metadata: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) message: Vec<u8>,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
}

impl GrpcRequest {
    /// Calls `service/method` (`"pkg.Service"`, `"Method"`) on `cluster` with the serialized
    /// request `message`.
    pub fn new(
        cluster: &str,
        service: &str,
        method: &str,
        message: impl Into<Vec<u8>>,
    ) -> GrpcRequest {
        GrpcRequest {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            method: method.to_owned(),
            metadata: Vec::new(),
            message: message.into(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// Calls `service/method` on `cluster` with `message`, serialized with `prost`.
    #[cfg(feature = "prost")]
    pub fn message<M: prost::Message>(
        cluster: &str,
        service: &str,
        method: &str,
        message: &M,
    ) -> GrpcRequest {
        GrpcRequest::new(cluster, service, method, message.encode_to_vec())
    }

    /// Adds initial metadata.
    pub fn metadata(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> GrpcRequest {
        self.metadata
            .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// Sets how long the call may take (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> GrpcRequest {
        self.timeout = timeout;
        self
    }

    /// Sets the largest response message the call takes (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`]); a larger one is [`CalloutError::TooLarge`].
    pub fn max_response_bytes(mut self, limit: usize) -> GrpcRequest {
        self.max_response_bytes = limit;
        self
    }

    /// Sends the call; metadata that could split the request is refused first.
    pub(crate) fn dispatch(&self) -> HeaderResult<u32> {
        for (name, value) in &self.metadata {
            check_header(MapType::GrpcReceiveInitialMetadata, name, value)?;
        }
        Ok(host::callouts::grpc_call(
            &self.cluster,
            &self.service,
            &self.method,
            &self.metadata,
            &self.message,
            self.timeout,
        )?)
    }
}

/// What a call brought back, read from the host when it arrives.
pub(crate) enum Response {
    Http(Result<HttpResponse, CalloutError>),
    Grpc(Result<Vec<u8>, CalloutError>),
    /// An event of a gRPC stream.
    Stream(GrpcStreamEvent),
    /// A stream's timer fired.
    Timer,
}

/// Which kind of call a token belongs to: Envoy numbers HTTP and gRPC calls apart.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallKind {
    /// `proxy_http_call`.
    Http,
    /// `proxy_grpc_call`.
    Grpc,
    /// `proxy_grpc_stream`.
    GrpcStream,
    /// A stream's timer (`after`), numbered by the SDK.
    Timer,
}

/// The next stream timer's number (unique in this VM).
pub(crate) fn next_timer_token() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A gRPC callout event, as Envoy delivers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcEvent {
    /// Initial metadata with this many entries.
    InitialMetadata(usize),
    /// A message of this many bytes.
    Message(usize),
    /// Trailing metadata with this many entries.
    TrailingMetadata(usize),
    /// The call closed with this gRPC status.
    Close(u32),
}

type HttpHandler<F> = Box<
    dyn FnOnce(
        &mut F,
        Result<HttpResponse, CalloutError>,
        &mut CalloutOps<'_, F>,
    ) -> Result<(), Error>,
>;
type GrpcHandler<F> = Box<
    dyn FnOnce(&mut F, Result<Vec<u8>, CalloutError>, &mut CalloutOps<'_, F>) -> Result<(), Error>,
>;

type TimerHandler<F> = Box<dyn FnOnce(&mut F, &mut CalloutOps<'_, F>) -> Result<(), Error>>;

type StreamHandler<F> =
    Box<dyn FnMut(&mut F, GrpcStreamEvent, &mut CalloutOps<'_, F>) -> Result<(), Error>>;

/// The code that runs when a call's response arrives (or a stream's timer fires), typed by
/// the filter that made it.
pub(crate) enum Handler<F> {
    Http(HttpHandler<F>),
    Grpc(GrpcHandler<F>),
    /// Runs for every event of a gRPC stream, until its close.
    Stream(StreamHandler<F>),
    Timer(TimerHandler<F>),
}

/// How the runtime learns that a stream started a call, so that the call's response comes
/// back to it. Implemented by the runtime for every filter; called only where a filter calls
/// out, so a module that never does links none of the code that routes responses.
#[doc(hidden)]
pub trait CallRouting: Sized + 'static {
    /// Call `token` of `kind`, started by stream `context_id`, waits for its response (of
    /// at most `max_response_bytes`).
    fn route(kind: CallKind, token: u32, context_id: u32, max_response_bytes: usize);

    /// Timer `token` of stream `context_id` fires `delay` from now (on its plugin's timers).
    ///
    /// # Errors
    /// The host's refusal to set the plugin's tick.
    fn schedule(token: u32, context_id: u32, delay: std::time::Duration) -> HostResult<()>;

    /// Whether call `token` of `kind` still waits for responses (a stream not cancelled).
    fn routed(kind: CallKind, token: u32) -> bool;

    /// Stops waiting for call `token` of `kind`.
    fn forget(kind: CallKind, token: u32);
}

type Responder<F> =
    fn(&mut Calls<F>, &mut F, CallKind, u32, Response, u32) -> Option<Result<(), Error>>;

/// The calls one stream has in flight: each token's handler, typed by the stream's filter,
/// so a response reaches its handler without a run-time type check.
pub(crate) struct Calls<F> {
    handlers: Vec<(CallKind, u32, Handler<F>)>,
    /// Runs a handler; set by the first call, so a filter that never calls out links no
    /// handler code.
    responder: Option<Responder<F>>,
    /// Stops the routing of a stream's events; set by the first stream, whose handler
    /// goes when the filter does (its streams are cancelled then).
    forget_stream: Option<fn(CallKind, u32)>,
}

/// A filter's gRPC streams end with its HTTP stream: Envoy keeps them on the plugin's
/// context, so the SDK cancels them.
impl<F> Drop for Calls<F> {
    fn drop(&mut self) {
        let Some(forget) = self.forget_stream else {
            return;
        };
        for (kind, token, _) in &self.handlers {
            if *kind == CallKind::GrpcStream {
                let _ = host::callouts::grpc_cancel(*token);
                forget(*kind, *token);
            }
        }
    }
}

impl<F> Calls<F> {
    pub(crate) const fn new() -> Self {
        Calls {
            handlers: Vec::new(),
            responder: None,
            forget_stream: None,
        }
    }

    /// Runs the handler of call `token` with `filter`; `None` if no call of this stream
    /// has that token.
    pub(crate) fn respond(
        &mut self,
        kind: CallKind,
        token: u32,
        response: Response,
        filter: &mut F,
        context_id: u32,
    ) -> Option<Result<(), Error>> {
        let respond = self.responder?;
        respond(self, filter, kind, token, response, context_id)
    }
}

impl<F: CallRouting> Calls<F> {
    /// Keeps `handler` for call `token`, started by stream `context_id`.
    pub(crate) fn add(
        &mut self,
        call: (CallKind, u32),
        context_id: u32,
        limit: usize,
        handler: Handler<F>,
    ) {
        let (kind, token) = call;
        self.handlers.push((kind, token, handler));
        self.responder = Some(Self::run_handler);
        F::route(kind, token, context_id, limit);
    }

    /// Keeps `handler` for a timer of stream `context_id`, due `delay` from now.
    pub(crate) fn add_timer(
        &mut self,
        context_id: u32,
        delay: std::time::Duration,
        handler: TimerHandler<F>,
    ) -> HostResult<()> {
        let token = next_timer_token();
        F::schedule(token, context_id, delay)?;
        self.handlers
            .push((CallKind::Timer, token, Handler::Timer(handler)));
        self.responder = Some(Self::run_handler);
        Ok(())
    }

    fn run_handler(
        &mut self,
        filter: &mut F,
        kind: CallKind,
        token: u32,
        response: Response,
        context_id: u32,
    ) -> Option<Result<(), Error>> {
        let at = self
            .handlers
            .iter()
            .position(|(k, t, _)| (*k, *t) == (kind, token))?;
        let (_, _, handler) = self.handlers.swap_remove(at);
        let mut ops = CalloutOps::new(context_id, self);
        Some(match (handler, response) {
            (Handler::Http(handler), Response::Http(result)) => handler(filter, result, &mut ops),
            (Handler::Grpc(handler), Response::Grpc(result)) => handler(filter, result, &mut ops),
            (Handler::Stream(mut handler), Response::Stream(event)) => {
                let last = matches!(event, GrpcStreamEvent::Closed { .. });
                let result = handler(filter, event, &mut ops);
                // Kept for the next event, unless this was the last or the handler
                // cancelled the stream.
                if !last && F::routed(kind, token) {
                    self.handlers.push((kind, token, Handler::Stream(handler)));
                }
                result
            }
            (Handler::Timer(handler), Response::Timer) => handler(filter, &mut ops),
            // Tokens are kept per kind, so a response meets a handler of its kind.
            _ => Ok(()),
        })
    }

    /// Keeps `handler` for every event of `stream`, started by stream `context_id`.
    pub(crate) fn add_stream(
        &mut self,
        stream: GrpcStream,
        context_id: u32,
        limit: usize,
        handler: StreamHandler<F>,
    ) {
        self.forget_stream = Some(F::forget);
        self.add(
            (CallKind::GrpcStream, stream.token()),
            context_id,
            limit,
            Handler::Stream(handler),
        );
    }
}

/// Reads the response to an HTTP call (in `proxy_on_http_call_response`); `headers == 0`
/// means the call failed without one.
pub(crate) fn read_http_response(headers: usize, body_size: usize, limit: usize) -> Response {
    Response::Http(if body_size > limit {
        Err(CalloutError::TooLarge {
            size: body_size,
            limit,
        })
    } else if headers == 0 {
        // Envoy delivers a failed call (reset, no upstream) without headers.
        let reason = host::callouts::status()
            .map(|(_, message)| String::from_utf8_lossy(&message).into_owned())
            .unwrap_or_default();
        Err(CalloutError::Failed(reason))
    } else {
        HttpResponse::read(body_size)
            .map_err(CalloutError::Host)
            .and_then(envoy_failure)
    })
}

/// Reads what a gRPC event brings: the response message, or the failure status. Metadata
/// alone brings no response.
pub(crate) fn read_grpc_event(event: GrpcEvent, limit: usize) -> Option<Response> {
    match event {
        GrpcEvent::Message(size) if size > limit => {
            Some(Response::Grpc(Err(CalloutError::TooLarge { size, limit })))
        }
        GrpcEvent::Message(size) => Some(Response::Grpc(
            host::buffers::get(BufferType::GrpcReceiveBuffer, 0, size)
                .map(Option::unwrap_or_default)
                .map_err(CalloutError::Host),
        )),
        GrpcEvent::Close(code) => {
            let message = host::callouts::status()
                .map(|(_, message)| String::from_utf8_lossy(&message).into_owned())
                .unwrap_or_default();
            Some(Response::Grpc(Err(CalloutError::Grpc {
                status: GrpcStatus::from_code(code),
                message,
            })))
        }
        GrpcEvent::InitialMetadata(_) | GrpcEvent::TrailingMetadata(_) => None,
    }
}

/// `http_call`, `grpc_call` and `after`, for every phase object that can start calls.
macro_rules! start_calls {
    () => {
        /// Runs `on_fire` with this filter once `delay` has passed, with the operations
        /// of a callout's handler: resume the stream from it, answer it, call out. Return
        /// `Action::Pause` to hold the stream meanwhile (a delay filter). The timer runs
        /// among the plugin's [timers](crate::timer), in this stream's VM; if the stream
        /// is gone by then, nothing runs. On the native target too: Envoy's scheduler of
        /// a stream carries the tick there.
        ///
        /// # Errors
        /// The host's status when Envoy refuses to set the plugin's tick.
        pub fn after(
            &mut self,
            delay: std::time::Duration,
            on_fire: impl FnOnce(
                &mut F,
                &mut $crate::callout::CalloutOps<'_, F>,
            ) -> Result<(), $crate::Error>
            + 'static,
        ) -> $crate::HostResult<()> {
            self.calls
                .add_timer(self.context_id, delay, Box::new(on_fire))
        }

        /// Calls another service over HTTP; `on_response` runs with this filter when the
        /// response (or the failure) arrives: a closure, or a method such as `Self::decide`.
        /// Return `Action::Pause` to wait for it. An unknown cluster or a malformed request
        /// fails here, at once.
        ///
        /// # Errors
        /// [`HeaderError::Invalid`](crate::HeaderError::Invalid) for a request header that
        /// could split the request (nothing is sent); the host's status when Envoy refuses
        /// the call (an unknown cluster, say).
        pub fn http_call(
            &mut self,
            request: $crate::callout::HttpRequest,
            on_response: impl FnOnce(
                &mut F,
                Result<$crate::callout::HttpResponse, $crate::callout::CalloutError>,
                &mut $crate::callout::CalloutOps<'_, F>,
            ) -> Result<(), $crate::Error>
            + 'static,
        ) -> $crate::HeaderResult<()> {
            let token = request.dispatch()?;
            let handler = $crate::callout::Handler::Http(Box::new(on_response));
            let call = ($crate::callout::CallKind::Http, token);
            self.calls
                .add(call, self.context_id, request.max_response_bytes, handler);
            Ok(())
        }

        /// Calls a gRPC method (unary); `on_response` runs with this filter and the
        /// serialized response message, or the failure.
        ///
        /// # Errors
        /// As [`http_call`](Self::http_call), for the metadata.
        #[cfg_attr(all(feature = "dynamic-module", not(target_arch = "wasm32")), deprecated(note = "the native target (Envoy dynamic modules) has no gRPC calls: this fails with `Unimplemented`; see the README, \"Native target\""))]
        pub fn grpc_call(
            &mut self,
            request: $crate::callout::GrpcRequest,
            on_response: impl FnOnce(
                &mut F,
                Result<Vec<u8>, $crate::callout::CalloutError>,
                &mut $crate::callout::CalloutOps<'_, F>,
            ) -> Result<(), $crate::Error>
            + 'static,
        ) -> $crate::HeaderResult<()> {
            let token = request.dispatch()?;
            let handler = $crate::callout::Handler::Grpc(Box::new(on_response));
            let call = ($crate::callout::CallKind::Grpc, token);
            self.calls
                .add(call, self.context_id, request.max_response_bytes, handler);
            Ok(())
        }

        /// Opens a gRPC stream for this HTTP stream (see [`grpc`](crate::grpc)):
        /// `on_event` runs with this filter for each of its events, until it closes. The
        /// stream is cancelled when this HTTP stream ends.
        ///
        /// # Errors
        /// As [`http_call`](Self::http_call), for the metadata.
        #[cfg_attr(all(feature = "dynamic-module", not(target_arch = "wasm32")), deprecated(note = "the native target (Envoy dynamic modules) has no gRPC streams: this fails with `Unimplemented`; see the README, \"Native target\""))]
        pub fn grpc_stream(
            &mut self,
            request: $crate::grpc::GrpcStreamRequest,
            on_event: impl FnMut(
                &mut F,
                $crate::grpc::GrpcStreamEvent,
                &mut $crate::callout::CalloutOps<'_, F>,
            ) -> Result<(), $crate::Error>
            + 'static,
        ) -> $crate::HeaderResult<$crate::grpc::GrpcStream> {
            let stream = request.open()?;
            self.calls.add_stream(
                stream,
                self.context_id,
                request.max_message_bytes,
                Box::new(on_event),
            );
            Ok(stream)
        }
    };
}
pub(crate) use start_calls;

/// Operations valid when a call's response arrives: the stream is paused and waiting.
/// `F` is the filter that made the call; further calls can start from here.
pub struct CalloutOps<'a, F> {
    context_id: u32,
    calls: &'a mut Calls<F>,
}

impl<F> fmt::Debug for CalloutOps<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CalloutOps")
            .field("context_id", &self.context_id)
            .finish_non_exhaustive()
    }
}

impl<'a, F> CalloutOps<'a, F> {
    pub(crate) fn new(context_id: u32, calls: &'a mut Calls<F>) -> Self {
        Self { context_id, calls }
    }

    /// The request headers, writable while the request is held at its headers.
    pub fn request_headers(&mut self) -> HeadersMut<'_> {
        HeadersMut::new(MapType::HttpRequestHeaders)
    }

    /// The response headers, writable while the response is held at its headers.
    pub fn response_headers(&mut self) -> HeadersMut<'_> {
        HeadersMut::new(MapType::HttpResponseHeaders)
    }

    /// The host's clock.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call.
    pub fn now(&self) -> HostResult<std::time::SystemTime> {
        host::time::now()
    }

    /// Lets the paused request go on.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call.
    pub fn resume_request(&mut self) -> HostResult<()> {
        host::stream::resume(StreamType::HttpRequest)
    }

    /// Lets the paused response go on.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call.
    pub fn resume_response(&mut self) -> HostResult<()> {
        host::stream::resume(StreamType::HttpResponse)
    }

    /// Answers the request with `reply`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call.
    pub fn respond(&mut self, reply: LocalReply) -> HeaderResult<()> {
        reply.send()
    }

    /// Envoy's attributes of this stream.
    pub fn properties(&self) -> Properties<'_> {
        Properties::new()
    }

    /// The host's id of the stream.
    pub fn context_id(&self) -> u32 {
        self.context_id
    }
}

impl<F: CallRouting> CalloutOps<'_, F> {
    start_calls!();
}

/// Envoy answers a call it could not complete with a response of its own: `504 upstream
/// request timeout` at the timeout, `503 upstream connect error ...` or `503 no healthy
/// upstream` when the service cannot be reached. Those become typed errors.
pub(crate) fn envoy_failure(response: HttpResponse) -> Result<HttpResponse, CalloutError> {
    const TIMEOUT: &[u8] = b"upstream request timeout";
    const UNREACHABLE: [&[u8]; 2] = [b"upstream connect error", b"no healthy upstream"];
    match response.status {
        504 if response.body == TIMEOUT => Err(CalloutError::Timeout),
        503 if UNREACHABLE
            .iter()
            .any(|text| response.body.starts_with(text)) =>
        {
            Err(CalloutError::Failed(
                String::from_utf8_lossy(&response.body).into_owned(),
            ))
        }
        _ => Ok(response),
    }
}
