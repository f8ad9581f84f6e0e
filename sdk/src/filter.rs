//! The HTTP filter trait and the operations each of its callbacks may use.
//!
//! Envoy creates one filter per HTTP stream (through
//! [`Plugin::create_filter`](crate::Plugin::create_filter)) and calls it as the stream goes
//! by. Each callback receives a phase object holding exactly the operations valid in that
//! phase: request headers can be changed in
//! [`on_request_headers`](HttpFilter::on_request_headers), not after; the body is there only
//! in body callbacks; [`on_stream_done`](HttpFilter::on_stream_done) may read but not write.
//!
//! Every callback returns `Result<Action, Error>`. `Ok(Action::Continue)` lets the stream
//! go on, `Ok(Action::Pause)` holds it, and `Err(e)` logs `e` and answers the request with a
//! local reply (see [`Error`]), never a trap.
//!
//! What `Pause` holds follows Envoy: from a headers callback it holds the headers *and*
//! everything after them; the body reaches the filter only once it resumes the stream
//! (from a callout response or a timer, through [`Stream`]). From a body callback it buffers:
//! the next body callback sees all of the body so far. To rewrite a body, let the headers go
//! on after [`RequestHeadersOps::prepare_body_rewrite`] and buffer in the body callbacks
//! with [`RequestBodyOps::buffered`].
//!
//! ```
//! use envoy_wasm_sdk::prelude::*;
//!
//! /// Rejects requests without an API key, and tells the client which path it hit.
//! struct ApiKeyFilter {
//!     path: String,
//! }
//!
//! #[http_filter]
//! impl HttpFilter for ApiKeyFilter {
//!     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
//!         if !req.headers().contains("x-api-key")? {
//!             return Err(Error::with_status(401, "missing x-api-key"));
//!         }
//!         self.path = req.headers().get_str(":path")?.unwrap_or_default();
//!         req.headers().remove("x-api-key")?;
//!         Ok(Action::Continue)
//!     }
//!
//!     fn on_response_headers(&mut self, resp: &mut ResponseHeadersOps<Self>) -> Result<Action, Error> {
//!         resp.headers().set("x-served-path", &self.path)?;
//!         Ok(Action::Continue)
//!     }
//! }
//! ```

pub use crate::abi::Action;
use crate::abi::{BufferType, MapType, StreamType, Via};
use crate::body::Body;
use crate::callout::{CallRouting, start_calls};
use crate::error::Error;
use crate::headers::{Headers, HeadersMut};
use crate::host::{self, HostResult};
use crate::properties::{Properties, PropertiesMut};
use crate::reply::LocalReply;
use std::marker::PhantomData;

/// Implemented by [`http_filter`](crate::http_filter) for the filter type it is put on.
///
/// With `STATELESS`, the SDK keeps the one value `create_filter` returned at configure time
/// and calls it for every stream (`#[http_filter(stateless)]` checks at compile time that
/// the type holds nothing, so no stream can see another's state).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not exported to Envoy",
    label = "needs `#[envoy_wasm_sdk::http_filter]` on its `impl HttpFilter`",
    note = "put `#[envoy_wasm_sdk::http_filter]` on `impl HttpFilter for {Self}`: it exports the callbacks the filter implements"
)]
pub trait FilterExports: HttpFilter {
    /// Whether the filter keeps nothing per stream.
    const STATELESS: bool;
    /// The stream callbacks the module exports (`proxy_on_request_headers`, ...): Envoy
    /// calls only these, and so does the emulator.
    const EXPORTS: &'static [&'static str];
}

/// An HTTP filter: one value per stream, called as the stream goes by.
///
/// Every callback has a default that continues, so a filter implements only what it needs.
///
/// # Errors
/// A callback's `Err` is logged and answered with a local reply (see [`Error`]).
#[allow(unused_variables, clippy::missing_errors_doc)]
pub trait HttpFilter: Sized + 'static {
    /// Request headers arrived.
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// A request body chunk arrived (or, after `Pause`, the body so far).
    fn on_request_body(&mut self, body: &mut RequestBodyOps<Self>) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// Request trailers arrived.
    fn on_request_trailers(
        &mut self,
        trailers: &mut RequestTrailersOps<Self>,
    ) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// Response headers arrived (also for local replies).
    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// A response body chunk arrived (or, after `Pause`, the body so far).
    fn on_response_body(&mut self, body: &mut ResponseBodyOps<Self>) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// Response trailers arrived.
    fn on_response_trailers(
        &mut self,
        trailers: &mut ResponseTrailersOps<Self>,
    ) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// The stream is complete (access-log time): everything is readable, nothing writable.
    fn on_stream_done(&mut self, done: &mut StreamDoneOps) {}
}

/// A handle on the stream, for resuming or answering it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    context_id: u32,
}

impl Stream {
    pub(crate) const fn new(context_id: u32) -> Stream {
        Stream { context_id }
    }

    /// The host's id of this stream's context.
    pub fn context_id(&self) -> u32 {
        self.context_id
    }

    /// Resumes a request paused by `Action::Pause`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn resume_request(&self) -> HostResult<()> {
        host::context::on_context(self.context_id, || {
            host::stream::resume(StreamType::HttpRequest)
        })
    }

    /// Resumes a response paused by `Action::Pause`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn resume_response(&self) -> HostResult<()> {
        host::context::on_context(self.context_id, || {
            host::stream::resume(StreamType::HttpResponse)
        })
    }

    /// Answers the request with `reply`, whether or not the filter paused it: from a
    /// callout's handler or a timer for a paused stream, or at once from a callback, as a
    /// phase's [`respond`](RequestHeadersOps::respond) does (the same signature). In a
    /// callback, "deny then continue" (`stream.respond(reply)?; Ok(Action::Continue)`, as
    /// Go plugins write it) does what `return ops.respond(reply)` does: the request goes
    /// no further and the client gets the reply (checked in Envoy 1.40 by the
    /// differential tests).
    ///
    /// # Errors
    /// As a phase's [`respond`](RequestHeadersOps::respond).
    pub fn respond(&self, reply: LocalReply) -> Result<Action, Error> {
        host::context::on_context(self.context_id, || reply.send())?;
        Ok(Action::Pause)
    }

    /// Resets the stream.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn reset(&self) -> HostResult<()> {
        host::context::on_context(self.context_id, || {
            host::stream::close(StreamType::HttpRequest)
        })
    }
}

/// Operations every live phase has: properties, local replies, the stream handle.
macro_rules! live_phase {
    ($phase:ident) => {
        impl<F> std::fmt::Debug for $phase<'_, F> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($phase))
                    .field("context_id", &self.context_id)
                    .finish_non_exhaustive()
            }
        }

        impl<F> $phase<'_, F> {
            /// Envoy's properties of this stream.
            pub fn properties(&self) -> PropertiesMut<'_> {
                PropertiesMut::new()
            }

            /// The host's clock (Envoy's time source; the emulator's, which
            /// [`advance`](crate::testing::Emulator::advance) moves). Use it instead of
            /// `SystemTime::now()`, which tests cannot move.
            ///
            /// # Errors
            /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
            pub fn now(&self) -> HostResult<std::time::SystemTime> {
                host::time::now()
            }

            /// A handle for resuming or answering this stream later.
            pub fn stream(&self) -> Stream {
                Stream::new(self.context_id)
            }

            /// Answers the request with `reply` instead of going on, and returns the action
            /// that stops this phase: `return ops.respond(LocalReply::new(403));`. Every
            /// local reply is sent this way, with this signature: from a phase, a callout's
            /// handler ([`CalloutOps::respond`](crate::callout::CalloutOps::respond)) or a
            /// [`Stream`] ([`Stream::respond`]); where there is no phase to stop, `?` it.
            ///
            /// # Errors
            /// [`HeaderError::Invalid`](crate::HeaderError::Invalid) (as an [`Error`]) for a
            /// reply header that could split the response: nothing is sent, and the SDK
            /// answers 500 if the error is returned; the host's status when Envoy refuses
            /// the call.
            pub fn respond(&mut self, reply: LocalReply) -> Result<Action, Error> {
                reply.send()?;
                Ok(Action::Pause)
            }
        }

        impl<F: CallRouting> $phase<'_, F> {
            start_calls!();
        }
    };
}

/// Operations valid in [`HttpFilter::on_request_headers`].
pub struct RequestHeadersOps<'a, F> {
    context_id: u32,
    end_of_stream: bool,
    via: Via,
    filter: PhantomData<&'a mut F>,
}

impl<'a, F> RequestHeadersOps<'a, F> {
    pub(crate) fn new(context_id: u32, end_of_stream: bool, via: Via) -> Self {
        Self {
            context_id,
            end_of_stream,
            via,
            filter: PhantomData,
        }
    }

    /// The request headers, writable.
    pub fn headers(&mut self) -> HeadersMut<'_> {
        HeadersMut::new(MapType::HttpRequestHeaders, self.via)
    }

    /// Whether the request has no body or trailers.
    pub fn end_of_stream(&self) -> bool {
        self.end_of_stream
    }

    /// The query parameters of `:path`, decoded (see [`query`](crate::query)).
    ///
    /// # Errors
    /// [`QueryError`](crate::query::QueryError) (a 400 through `?`) for a bad `%` escape in
    /// the query; the host's status when Envoy refuses the call.
    pub fn query(&mut self) -> Result<crate::query::QueryParams, Error> {
        let path = self.headers().path()?.unwrap_or_default();
        Ok(crate::query::QueryParams::from_path(&path)?)
    }

    /// Makes Envoy choose the request's route again: call it after changing what routing
    /// looks at (`:path`, `:authority`, a header a route matches on), or the request goes
    /// where its first headers pointed. The same as
    /// [`foreign::clear_route_cache`](crate::foreign::clear_route_cache).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn clear_route_cache(&mut self) -> HostResult<()> {
        crate::foreign::clear_route_cache()
    }
}
live_phase!(RequestHeadersOps);
impl<F> RequestHeadersOps<'_, F> {
    /// Call when the body callbacks will change the body's length: removes
    /// `content-length`, so what goes on carries the body's real length (HTTP/1.1 chunked
    /// encoding, HTTP/2 framing). It must happen here: once a headers callback returns,
    /// Envoy no longer lets the filter change the headers, and a `Pause` here holds the
    /// body back from the filter until it resumes.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn prepare_body_rewrite(&mut self) -> HostResult<()> {
        self.headers().remove("content-length")
    }
}

/// Operations valid in [`HttpFilter::on_response_headers`].
pub struct ResponseHeadersOps<'a, F> {
    context_id: u32,
    end_of_stream: bool,
    via: Via,
    filter: PhantomData<&'a mut F>,
}

impl<'a, F> ResponseHeadersOps<'a, F> {
    pub(crate) fn new(context_id: u32, end_of_stream: bool, via: Via) -> Self {
        Self {
            context_id,
            end_of_stream,
            via,
            filter: PhantomData,
        }
    }

    /// The response headers, writable.
    pub fn headers(&mut self) -> HeadersMut<'_> {
        HeadersMut::new(MapType::HttpResponseHeaders, self.via)
    }

    /// Whether the response has no body or trailers.
    pub fn end_of_stream(&self) -> bool {
        self.end_of_stream
    }
}
live_phase!(ResponseHeadersOps);
impl<F> ResponseHeadersOps<'_, F> {
    /// Call when the body callbacks will change the body's length: removes
    /// `content-length`, so what goes on carries the body's real length (HTTP/1.1 chunked
    /// encoding, HTTP/2 framing). It must happen here: once a headers callback returns,
    /// Envoy no longer lets the filter change the headers, and a `Pause` here holds the
    /// body back from the filter until it resumes.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn prepare_body_rewrite(&mut self) -> HostResult<()> {
        self.headers().remove("content-length")
    }
}

/// Operations valid in a body callback.
macro_rules! body_phase {
    ($phase:ident, $buffer:expr, $trailers:expr, $over_limit:literal, $doc:literal) => {
        #[doc = $doc]
        pub struct $phase<'a, F> {
            context_id: u32,
            body: Body,
            end_of_stream: bool,
            via: Via,
            filter: PhantomData<&'a mut F>,
        }

        impl<'a, F> $phase<'a, F> {
            pub(crate) fn new(context_id: u32, size: usize, end_of_stream: bool, via: Via) -> Self {
                Self {
                    context_id,
                    body: Body::new($buffer, size),
                    end_of_stream,
                    via,
                    filter: PhantomData,
                }
            }

            /// The body available now, readable and writable.
            pub fn body(&mut self) -> &mut Body {
                &mut self.body
            }

            /// Whether this is the last chunk.
            pub fn end_of_stream(&self) -> bool {
                self.end_of_stream
            }

            /// Trailers may be added here, on the last chunk of a stream without trailers.
            pub fn trailers(&mut self) -> HeadersMut<'_> {
                HeadersMut::new($trailers, self.via)
            }

            /// Buffers the whole body, up to `limit` bytes. `Ok(None)` while more is coming:
            /// return `Action::Pause` and the host keeps buffering. `Ok(Some(body))` on the
            /// last chunk. A body over `limit` is an `Err` answered with
            ///
            /// # Errors
            /// An [`Error`] with the over-limit status when the body is larger than `limit`,
            /// or the host's failure to hand over the body.
            #[doc = concat!("`", $over_limit, "`.")]
            pub fn buffered(&mut self, limit: usize) -> Result<Option<Vec<u8>>, Error> {
                if self.body.len() > limit {
                    return Err(Error::with_status(
                        $over_limit,
                        format!("body larger than {limit} bytes"),
                    ));
                }
                if !self.end_of_stream {
                    return Ok(None);
                }
                Ok(Some(self.body.read_all()?))
            }
        }
        live_phase!($phase);
    };
}

body_phase!(
    RequestBodyOps,
    BufferType::HttpRequestBody,
    MapType::HttpRequestTrailers,
    413,
    "Operations valid in [`HttpFilter::on_request_body`]."
);
body_phase!(
    ResponseBodyOps,
    BufferType::HttpResponseBody,
    MapType::HttpResponseTrailers,
    500,
    "Operations valid in [`HttpFilter::on_response_body`]."
);

/// Operations valid in a trailers callback.
macro_rules! trailers_phase {
    ($phase:ident, $map:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $phase<'a, F> {
            context_id: u32,
            via: Via,
            filter: PhantomData<&'a mut F>,
        }

        impl<'a, F> $phase<'a, F> {
            pub(crate) fn new(context_id: u32, via: Via) -> Self {
                Self {
                    context_id,
                    via,
                    filter: PhantomData,
                }
            }

            /// The trailers, writable.
            pub fn trailers(&mut self) -> HeadersMut<'_> {
                HeadersMut::new($map, self.via)
            }
        }
        live_phase!($phase);
    };
}

trailers_phase!(
    RequestTrailersOps,
    MapType::HttpRequestTrailers,
    "Operations valid in [`HttpFilter::on_request_trailers`]."
);
trailers_phase!(
    ResponseTrailersOps,
    MapType::HttpResponseTrailers,
    "Operations valid in [`HttpFilter::on_response_trailers`]."
);

/// Operations valid in [`HttpFilter::on_stream_done`]: reading only.
#[derive(Debug)]
pub struct StreamDoneOps {
    context_id: u32,
}

impl StreamDoneOps {
    pub(crate) const fn new(context_id: u32) -> Self {
        Self { context_id }
    }

    /// The host's id of the finished stream's context.
    pub fn context_id(&self) -> u32 {
        self.context_id
    }

    /// The request headers as they were sent upstream.
    pub fn request_headers(&self) -> Headers<'_> {
        Headers::new(MapType::HttpRequestHeaders, Via::HOST)
    }

    /// The response headers as they were sent downstream.
    pub fn response_headers(&self) -> Headers<'_> {
        Headers::new(MapType::HttpResponseHeaders, Via::HOST)
    }

    /// Envoy's properties of the finished stream (`response.code`, durations, ...).
    pub fn properties(&self) -> Properties<'_> {
        Properties::new()
    }

    /// The host's clock.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn now(&self) -> HostResult<std::time::SystemTime> {
        host::time::now()
    }
}
