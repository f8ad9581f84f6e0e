//! The calls a stream has in flight and the handlers their answers run, typed by the
//! filter that made them; [`CalloutOps`], what a handler gets; and `start_calls!`, the
//! phases' `http_call`, `grpc_call`, `grpc_stream` and `after`.

use super::{CalloutError, HttpResponse, envoy_failure};
use crate::abi::{BufferType, MapType, StreamType};
use crate::error::Error;
use crate::grpc::{GrpcEvent, GrpcStatus, GrpcStream, GrpcStreamEvent};
use crate::headers::HeadersMut;
use crate::host::{self, HostResult};
use crate::properties::PropertiesMut;
use crate::reply::LocalReply;
use std::fmt;

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
        /// serialized response message, or the failure. On the native target too: the
        /// call is an HTTP/2 stream Envoy starts for this stream (the cluster must speak
        /// HTTP/2, as a gRPC service's does).
        ///
        /// # Errors
        /// As [`http_call`](Self::http_call), for the metadata.
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

        crate::native_lacks! {
            /// Opens a gRPC stream for this HTTP stream (see [`grpc`](crate::grpc)):
            /// `on_event` runs with this filter for each of its events, until it closes. The
            /// stream is cancelled when this HTTP stream ends.
            ///
            /// # Errors
            /// As [`http_call`](Self::http_call), for the metadata.
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
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn now(&self) -> HostResult<std::time::SystemTime> {
        host::time::now()
    }

    /// Makes Envoy choose the route again, after the handler changed the request headers
    /// a route looks at (see
    /// [`RequestHeadersOps::clear_route_cache`](crate::RequestHeadersOps::clear_route_cache)).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn clear_route_cache(&mut self) -> HostResult<()> {
        crate::foreign::clear_route_cache()
    }

    /// Lets the paused request go on.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn resume_request(&mut self) -> HostResult<()> {
        host::stream::resume(StreamType::HttpRequest)
    }

    /// Lets the paused response go on.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn resume_response(&mut self) -> HostResult<()> {
        host::stream::resume(StreamType::HttpResponse)
    }

    /// Answers the request with `reply`, as a phase's
    /// [`respond`](crate::RequestHeadersOps::respond) does (the same signature: `?` it in
    /// a handler).
    ///
    /// # Errors
    /// As a phase's [`respond`](crate::RequestHeadersOps::respond).
    pub fn respond(&mut self, reply: LocalReply) -> Result<crate::Action, Error> {
        reply.send()?;
        Ok(crate::Action::Pause)
    }

    /// Envoy's properties of this stream.
    pub fn properties(&self) -> PropertiesMut<'_> {
        PropertiesMut::new()
    }

    /// The host's id of the stream.
    pub fn context_id(&self) -> u32 {
        self.context_id
    }
}

impl<F: CallRouting> CalloutOps<'_, F> {
    start_calls!();
}
