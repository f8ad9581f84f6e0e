//! A call's handler, typed by the filter or plugin that made it and erased for the
//! runtime, which keeps one per call and runs it with its owner ([`Answer`], [`Owner`]);
//! [`CalloutOps`], what a filter's handler gets; and `start_calls!`, the phases'
//! `http_call`, `grpc_call`, `grpc_stream` and `after`.

use super::{CalloutError, HttpResponse, envoy_failure};
use crate::abi::{BufferType, MapType, StreamType};
use crate::error::Error;
use crate::grpc::{GrpcEvent, GrpcStatus, GrpcStreamEvent};
use crate::headers::HeadersMut;
use crate::host::{self, HostResult};
use crate::properties::PropertiesMut;
use crate::reply::LocalReply;
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;

/// What a call brought back, read from the host when it arrives.
pub(crate) enum Response {
    Http(Result<HttpResponse, CalloutError>),
    Grpc(Result<Vec<u8>, CalloutError>),
    /// An event of a gRPC stream.
    Stream(GrpcStreamEvent),
    /// A stream's timer fired.
    Timer,
}

impl Response {
    /// An HTTP call's response.
    pub(crate) fn http(self) -> Option<Result<HttpResponse, CalloutError>> {
        match self {
            Response::Http(result) => Some(result),
            _ => None,
        }
    }

    /// A unary gRPC call's response.
    pub(crate) fn grpc(self) -> Option<Result<Vec<u8>, CalloutError>> {
        match self {
            Response::Grpc(result) => Some(result),
            _ => None,
        }
    }

    /// A stream timer's firing.
    pub(crate) fn timer(self) -> Option<()> {
        matches!(self, Response::Timer).then_some(())
    }
}

/// Which kind of call a token belongs to: Envoy numbers HTTP and gRPC calls apart.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The context a call's answer runs with: the stream that made the call (its filter), or
/// the plugin context (the plugin and its services). Each is typed inside; the handler,
/// made where the type is known, finds its own.
pub(crate) enum Owner<'a> {
    /// An HTTP stream's filter.
    Stream {
        context_id: u32,
        filter: &'a mut dyn Any,
    },
    /// A plugin context: the plugin, and the services its operations use.
    Plugin {
        root_context_id: u32,
        plugin: &'a dyn Any,
        services: &'a dyn Any,
    },
}

/// A call's handler with its type erased: the runtime keeps it, one per call, and runs it
/// with the call's owner when an answer arrives (every event, for a gRPC stream).
#[doc(hidden)]
pub struct Answer(Box<dyn Run>);

/// What an [`Answer`] holds: a closure over the call's owner and its answer.
trait Run: FnMut(Owner<'_>, Response) -> Result<(), Error> {}

impl<T: FnMut(Owner<'_>, Response) -> Result<(), Error>> Run for T {}

impl Answer {
    /// A handler that runs `run`.
    pub(crate) fn new(run: impl FnMut(Owner<'_>, Response) -> Result<(), Error> + 'static) -> Self {
        Answer(Box::new(run))
    }

    /// Runs the handler with `owner`, the context that made the call.
    pub(crate) fn run(&mut self, owner: Owner<'_>, response: Response) -> Result<(), Error> {
        (self.0)(owner, response)
    }
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Answer")
    }
}

/// `run` as an [`Answer`] of a stream whose filter is an `F`.
pub(crate) fn filter_answer<F: 'static>(
    mut run: impl FnMut(&mut F, Response, &mut CalloutOps<'_, F>) -> Result<(), Error> + 'static,
) -> Answer {
    Answer::new(move |owner, response| match owner {
        Owner::Stream { context_id, filter } => match filter.downcast_mut::<F>() {
            Some(filter) => run(filter, response, &mut CalloutOps::new(context_id)),
            None => Ok(()),
        },
        Owner::Plugin { .. } => Ok(()),
    })
}

/// A handler that runs once, on an answer `pick` accepts (a response of its kind).
pub(crate) fn once<A: 'static, F: 'static>(
    handler: impl FnOnce(&mut F, A, &mut CalloutOps<'_, F>) -> Result<(), Error> + 'static,
    pick: fn(Response) -> Option<A>,
) -> Answer {
    let mut handler = Some(handler);
    filter_answer(
        move |filter: &mut F, response, ops| match (handler.take(), pick(response)) {
            (Some(handler), Some(answer)) => handler(filter, answer, ops),
            _ => Ok(()),
        },
    )
}

/// How a call's answer comes back to whoever made it. Implemented by the runtime for every
/// type; called only where a filter or a plugin calls out, so a module that never does
/// links none of the code that keeps and delivers answers.
#[doc(hidden)]
pub trait CallRouting: 'static {
    /// Call `token` of `kind`, made by context `owner` (a stream, or a plugin context),
    /// waits for its answer (of at most `limit` bytes); `answer` runs with the owner.
    fn route(kind: CallKind, token: u32, owner: u32, limit: usize, answer: Answer);

    /// A timer of stream `context_id` fires `delay` from now (on its plugin's tick); its
    /// handler is `answer`.
    ///
    /// # Errors
    /// The host's refusal to set the plugin's tick.
    fn schedule(context_id: u32, delay: std::time::Duration, answer: Answer) -> HostResult<()>;
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
            let answer = $crate::callout::once(
                move |filter: &mut F, (), ops: &mut $crate::callout::CalloutOps<'_, F>| {
                    on_fire(filter, ops)
                },
                $crate::callout::Response::timer,
            );
            F::schedule(self.context_id, delay, answer)
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
            let answer = $crate::callout::once(on_response, $crate::callout::Response::http);
            let (kind, limit) = ($crate::callout::CallKind::Http, request.max_response_bytes);
            F::route(kind, token, self.context_id, limit, answer);
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
            let answer = $crate::callout::once(on_response, $crate::callout::Response::grpc);
            let kind = $crate::callout::CallKind::Grpc;
            F::route(
                kind,
                token,
                self.context_id,
                request.max_response_bytes,
                answer,
            );
            Ok(())
        }

        /// Opens a gRPC stream for this HTTP stream (see [`grpc`](crate::grpc)):
        /// `on_event` runs with this filter for each of its events, until it closes. The
        /// stream is cancelled when this HTTP stream ends. On the native target too: an
        /// HTTP/2 stream Envoy starts for this stream, its messages framed as gRPC's.
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
            let mut on_event = on_event;
            let answer = $crate::callout::filter_answer(
                move |filter: &mut F, response, ops: &mut $crate::callout::CalloutOps<'_, F>| {
                    match response {
                        $crate::callout::Response::Stream(event) => on_event(filter, event, ops),
                        _ => Ok(()),
                    }
                },
            );
            let kind = $crate::callout::CallKind::GrpcStream;
            F::route(
                kind,
                stream.token(),
                self.context_id,
                request.max_message_bytes,
                answer,
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
    filter: PhantomData<&'a mut F>,
}

impl<F> fmt::Debug for CalloutOps<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CalloutOps")
            .field("context_id", &self.context_id)
            .finish_non_exhaustive()
    }
}

impl<'a, F> CalloutOps<'a, F> {
    pub(crate) fn new(context_id: u32) -> Self {
        Self {
            context_id,
            filter: PhantomData,
        }
    }

    /// The request headers, writable while the request is held at its headers.
    pub fn request_headers(&mut self) -> HeadersMut<'_> {
        HeadersMut::new(MapType::HttpRequestHeaders, crate::abi::Via::HOST)
    }

    /// The response headers, writable while the response is held at its headers.
    pub fn response_headers(&mut self) -> HeadersMut<'_> {
        HeadersMut::new(MapType::HttpResponseHeaders, crate::abi::Via::HOST)
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
