//! Requests in, what the upstream and the client receive out.

mod exchange;
mod stream;

pub use exchange::Exchange;

use super::Emulator;
use super::host::{Direction, Pairs, SentReply};
use crate::abi::Action;

fn owned(pairs: &[(&str, &str)]) -> Pairs {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn first<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a [u8]> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_slice())
}

/// The body and trailers of a [`Request`] or a [`Response`], set the same way on both.
macro_rules! parts {
    ($message:ident) => {
        impl $message {
            /// Sets the body, delivered as one chunk.
            pub fn body(mut self, body: impl Into<Vec<u8>>) -> $message {
                self.body = vec![body.into()];
                self
            }

            /// Sets the body, delivered in these chunks.
            pub fn chunks<I: IntoIterator<Item = B>, B: Into<Vec<u8>>>(
                mut self,
                chunks: I,
            ) -> $message {
                self.body = chunks.into_iter().map(Into::into).collect();
                self
            }

            /// Adds a trailer.
            pub fn trailer(mut self, name: &str, value: &str) -> $message {
                self.trailers
                    .push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
                self
            }
        }
    };
}

/// A request a client sends through the filter.
///
/// `Request::get("/path")` carries `:method`, `:path`, `:scheme: http` and
/// `:authority: example.com`, as Envoy's HTTP connection manager hands them to filters.
#[derive(Clone, Debug)]
pub struct Request {
    headers: Pairs,
    body: Vec<Vec<u8>>,
    trailers: Pairs,
}

impl Request {
    /// A request with `method` and `path`.
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            headers: owned(&[
                (":method", method),
                (":path", path),
                (":scheme", "http"),
                (":authority", "example.com"),
            ]),
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// `POST path` with `body`.
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Request {
        Request::new("POST", path).body(body)
    }

    /// Adds a header (several with the same name are kept).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Request {
        let value = value.as_ref().to_vec();
        match name {
            // Pseudo-headers are unique: replace.
            _ if name.starts_with(':') => {
                match self.headers.iter_mut().find(|(k, _)| k == name.as_bytes()) {
                    Some(existing) => existing.1 = value,
                    None => self.headers.push((name.as_bytes().to_vec(), value)),
                }
            }
            _ => self
                .headers
                .push((name.to_ascii_lowercase().into_bytes(), value)),
        }
        self
    }
}

parts!(Request);

/// A response the upstream sends back.
#[derive(Clone, Debug)]
pub struct Response {
    headers: Pairs,
    body: Vec<Vec<u8>>,
    trailers: Pairs,
}

impl Response {
    /// A response with `status`.
    pub fn new(status: u16) -> Response {
        Response {
            headers: vec![(b":status".to_vec(), status.to_string().into_bytes())],
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// `200` with no body.
    pub fn ok() -> Response {
        Response::new(200)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Response {
        self.headers.push((
            name.to_ascii_lowercase().into_bytes(),
            value.as_ref().to_vec(),
        ));
        self
    }

    pub(crate) fn into_parts(self) -> (Pairs, Vec<Vec<u8>>, Pairs) {
        (self.headers, self.body, self.trailers)
    }
}

parts!(Response);

/// Headers, body and trailers as they left the filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Headers, in order (names lower-case).
    pub headers: Pairs,
    /// The body, all chunks joined.
    pub body: Vec<u8>,
    /// Trailers.
    pub trailers: Pairs,
}

impl Message {
    /// The first value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        first(&self.headers, name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of header `name`, as text.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .collect()
    }

    /// The first value of trailer `name`, as text.
    pub fn trailer(&self, name: &str) -> Option<&str> {
        first(&self.trailers, name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// `:status`, parsed.
    pub fn status(&self) -> Option<u16> {
        self.header(":status").and_then(|s| s.parse().ok())
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Where one direction of the stream stands.
#[derive(Default, Debug)]
struct Flow {
    /// What went past the filter.
    forwarded: Message,
    headers_forwarded: bool,
    /// Everything has gone past the filter.
    complete: bool,
    /// Parts that arrived while the filter held the stream.
    held_trailers: Option<Pairs>,
    end_arrived: bool,
    stopped: bool,
    /// The headers callback paused: Envoy holds what follows back from the filter too.
    held_at_headers: bool,
    held_body: Vec<u8>,
    held_trailers_at_headers: Option<Pairs>,
}

/// One HTTP stream, driven a callback at a time; see [`Emulator::stream`].
///
/// Flow follows Envoy: a `Pause` from a headers callback holds the headers and keeps the
/// body and trailers from the filter until it resumes the stream (Envoy turns it into
/// "stop all iteration"); a `Pause` from a body callback buffers the body (the next body
/// callback sees all of it); `Continue`, or the filter resuming, lets everything go on.
pub struct HttpStream<'a> {
    emulator: &'a Emulator,
    id: u32,
    request: Flow,
    response: Flow,
    actions: Vec<(&'static str, Action)>,
    completed: bool,
}
