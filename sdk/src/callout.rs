//! Calls to other services from a filter: HTTP and unary gRPC, each answered in a closure.
//!
//! A filter starts a call from a callback, returns [`Action::Pause`](crate::Action::Pause),
//! and its closure runs when the answer (or the failure) arrives, with the filter itself
//! and the operations valid then: resume the request, or answer it. No tokens, no
//! bookkeeping in user code.
//!
//! ```
//! use envoy_wasm_sdk::callout::{CalloutOps, HttpRequest, HttpResponse, CalloutError};
//! use envoy_wasm_sdk::prelude::*;
//! use std::time::Duration;
//!
//! struct Auth {
//!     user: Option<String>,
//! }
//!
//! #[http_filter]
//! impl HttpFilter for Auth {
//!     fn on_request_headers(&mut self, req: &mut RequestHeadersOps) -> Result<Action, Error> {
//!         let token = req.headers().get_str("authorization")?.unwrap_or_default();
//!         let check = HttpRequest::get("auth_service", "/check")
//!             .header("authorization", token)
//!             .timeout(Duration::from_millis(500));
//!         req.http_call(check, |this: &mut Auth, answer, ops: &mut CalloutOps| {
//!             match answer {
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
use crate::headers::{HeaderValue, HeadersMut};
use crate::host::{self, HostError, HostResult};
use crate::properties::Properties;
use crate::reply::LocalReply;
use std::fmt;
use std::time::Duration;

/// How long a call may take when the request does not say: 1 second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// An HTTP request to an Envoy cluster.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub(crate) cluster: String,
    pub(crate) headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
    pub(crate) timeout: Duration,
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

    pub(crate) fn dispatch(&self) -> HostResult<u32> {
        let no_trailers: [(Vec<u8>, Vec<u8>); 0] = [];
        host::callouts::http_call(
            &self.cluster,
            &self.headers,
            &self.body,
            &no_trailers,
            self.timeout,
        )
    }
}

/// The answer to an HTTP call.
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

    /// Reads the answer being delivered (in `proxy_on_http_call_response`).
    pub(crate) fn read(body_size: usize) -> HostResult<HttpResponse> {
        let text_pairs = |map| -> HostResult<Vec<(String, HeaderValue)>> {
            Ok(host::headers::pairs(map)?
                .into_iter()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(&k).into_owned(),
                        HeaderValue::from(v),
                    )
                })
                .collect())
        };
        let headers = text_pairs(MapType::HttpCallResponseHeaders)?;
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
            trailers: text_pairs(MapType::HttpCallResponseTrailers)?,
        })
    }
}

/// Why a call brought no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CalloutError {
    /// No answer came within the call's timeout.
    Timeout,
    /// The call failed without an answer from the service: the connection was refused or
    /// reset, or no upstream host was available. Envoy's reason, if it gave one.
    Failed(String),
    /// A gRPC call ended with a non-OK status.
    GrpcStatus {
        /// The gRPC status code (e.g. 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED).
        code: u32,
        /// The status message.
        message: String,
    },
    /// The filter's context went away before the answer could be read.
    Host(HostError),
}

impl fmt::Display for CalloutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalloutError::Timeout => f.write_str("the call timed out"),
            CalloutError::Failed(reason) if reason.is_empty() => f.write_str("the call failed"),
            CalloutError::Failed(reason) => write!(f, "the call failed: {reason}"),
            CalloutError::GrpcStatus { code, message } => {
                write!(f, "gRPC status {code}: {message}")
            }
            CalloutError::Host(error) => write!(f, "{error}"),
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
        }
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

    pub(crate) fn dispatch(&self) -> HostResult<u32> {
        host::callouts::grpc_call(
            &self.cluster,
            &self.service,
            &self.method,
            &self.metadata,
            &self.message,
            self.timeout,
        )
    }
}

/// Operations valid when a call's answer arrives: the stream is paused and waiting.
#[derive(Debug)]
pub struct CalloutOps {
    context_id: u32,
    answered: bool,
}

impl CalloutOps {
    pub(crate) const fn new(context_id: u32) -> Self {
        Self {
            context_id,
            answered: false,
        }
    }

    /// The request headers, writable while the request is held at its headers.
    pub fn request_headers(&mut self) -> HeadersMut<'_> {
        HeadersMut::new(MapType::HttpRequestHeaders)
    }

    /// The response headers, writable while the response is held at its headers.
    pub fn response_headers(&mut self) -> HeadersMut<'_> {
        HeadersMut::new(MapType::HttpResponseHeaders)
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
    pub fn respond(&mut self, reply: LocalReply) -> HostResult<()> {
        self.answered = true;
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

/// What runs when a call's answer arrives: erased over the filter type.
pub(crate) type Callback =
    Box<dyn FnOnce(&mut dyn std::any::Any, Answer, &mut CalloutOps) -> Result<(), Error>>;

/// What a call brought.
pub(crate) enum Answer {
    Http(Result<HttpResponse, CalloutError>),
    Grpc(Result<Vec<u8>, CalloutError>),
}

/// Wraps a typed callback for the filter type `F`.
pub(crate) fn erase<F: 'static, T: 'static>(
    unwrap: fn(Answer) -> Option<Result<T, CalloutError>>,
    callback: impl FnOnce(&mut F, Result<T, CalloutError>, &mut CalloutOps) -> Result<(), Error>
    + 'static,
) -> Callback {
    Box::new(move |filter, answer, ops| {
        let filter = filter
            .downcast_mut::<F>()
            .ok_or_else(|| Error::new("callout answer for a different filter type"))?;
        let answer =
            unwrap(answer).ok_or_else(|| Error::new("callout answer of the wrong kind"))?;
        callback(filter, answer, ops)
    })
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

pub(crate) fn http_answer(answer: Answer) -> Option<Result<HttpResponse, CalloutError>> {
    match answer {
        Answer::Http(result) => Some(result),
        Answer::Grpc(_) => None,
    }
}

pub(crate) fn grpc_answer(answer: Answer) -> Option<Result<Vec<u8>, CalloutError>> {
    match answer {
        Answer::Grpc(result) => Some(result),
        Answer::Http(_) => None,
    }
}
