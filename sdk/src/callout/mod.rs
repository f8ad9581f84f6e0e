//! Calls to other services from a filter: HTTP and unary gRPC, each response handled in a
//! closure or a method.
//!
//! A filter starts a call from a callback, returns [`Action::Pause`](crate::Action::Pause),
//! and its handler runs when the response (or the failure) arrives, with the filter itself
//! and the operations valid then: resume the request, answer it, or call again. The handler
//! is typed by the filter (the phase objects carry its type, `RequestHeadersOps<Self>`), so
//! an inline closure needs no annotations, a method such as `Self::decide` fits as it is,
//! and user code has no casts. No tokens, no bookkeeping in user code: the SDK keeps each
//! call's handler until its answer comes, and drops it (cancelling a gRPC stream) when
//! the stream that made the call ends first.
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
//!                 Ok(_) => {
//!                     ops.respond(LocalReply::new(403))?;
//!                 }
//!                 Err(failure) => return Err(Error::with_status(503, format!("auth: {failure}"))),
//!             }
//!             Ok(())
//!         })?;
//!         Ok(Action::Pause)
//!     }
//! }
//! ```

use crate::abi::{BufferType, MapType};
use crate::grpc::GrpcStatus;
use crate::headers::{HeaderList, HeaderResult, check_header};
use crate::host::{self, HostError, HostResult};
use std::fmt;
use std::time::Duration;

mod calls;

pub(crate) use calls::{
    Answer, Owner, Response, filter_answer, once, read_grpc_event, read_http_response, start_calls,
};
pub use calls::{CallKind, CallRouting, CalloutOps};

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

    /// A request to `cluster` from a list of headers, pseudo-headers (`:method`, `:path`)
    /// included, as a filter that forwards or rebuilds a request has them; `:authority` is
    /// the cluster name unless the list has one.
    ///
    /// ```
    /// use envoy_wasm_sdk::callout::HttpRequest;
    ///
    /// let request = HttpRequest::from_headers(
    ///     "auth",
    ///     [(":method", "POST"), (":path", "/check"), ("x-user", "ann")],
    /// );
    /// # let _ = request;
    /// ```
    pub fn from_headers<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        cluster: &str,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> HttpRequest {
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = headers
            .into_iter()
            .map(|(name, value)| (name.as_ref().to_ascii_lowercase(), value.as_ref().to_vec()))
            .collect();
        if !headers.iter().any(|(name, _)| name == b":authority") {
            headers.push((b":authority".to_vec(), cluster.as_bytes().to_vec()));
        }
        HttpRequest {
            cluster: cluster.to_owned(),
            headers,
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

    /// Adds a header (its name lower-cased, as Envoy stores names).
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> HttpRequest {
        self.headers
            .push((name.as_ref().to_ascii_lowercase(), value.as_ref().to_vec()));
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
    pub headers: HeaderList,
    /// Body.
    pub body: Vec<u8>,
    /// Trailers.
    pub trailers: HeaderList,
}

impl HttpResponse {
    /// The first value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    /// Reads the response being delivered (in `proxy_on_http_call_response`).
    pub(crate) fn read(body_size: usize) -> HostResult<HttpResponse> {
        let headers = HeaderList::read(crate::abi::Via::HOST, MapType::HttpCallResponseHeaders)?;
        let status = headers
            .get_str(":status")
            .and_then(|status| status.parse().ok())
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
            trailers: HeaderList::read(crate::abi::Via::HOST, MapType::HttpCallResponseTrailers)?,
        })
    }
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

    /// Adds initial metadata (its name lower-cased, as Envoy stores names).
    pub fn metadata(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> GrpcRequest {
        self.metadata
            .push((name.as_ref().to_ascii_lowercase(), value.as_ref().to_vec()));
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

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_are_written_lower_cased() {
        let request = super::HttpRequest::get("c", "/").header("X-Up", "1");
        assert!(request.headers.iter().any(|(name, _)| name == b"x-up"));
    }
}
