//! Requests in, what the upstream and the client receive out.

use super::Emulator;
use super::host::{Direction, Pairs, SentReply};
use crate::abi::Action;
use std::time::Duration;

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

    /// Sets the body, delivered as one chunk.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = vec![body.into()];
        self
    }

    /// Sets the body, delivered in these chunks.
    pub fn chunks<I: IntoIterator<Item = B>, B: Into<Vec<u8>>>(mut self, chunks: I) -> Request {
        self.body = chunks.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a trailer.
    pub fn trailer(mut self, name: &str, value: &str) -> Request {
        self.trailers
            .push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        self
    }
}

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

    /// Sets the body, delivered as one chunk.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = vec![body.into()];
        self
    }

    /// Sets the body, delivered in these chunks.
    pub fn chunks<I: IntoIterator<Item = B>, B: Into<Vec<u8>>>(mut self, chunks: I) -> Response {
        self.body = chunks.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a trailer.
    pub fn trailer(mut self, name: &str, value: &str) -> Response {
        self.trailers
            .push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        self
    }

    pub(crate) fn into_parts(self) -> (Pairs, Vec<Vec<u8>>, Pairs) {
        (self.headers, self.body, self.trailers)
    }
}

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

/// What happened to one request: see [`Emulator::send`].
#[derive(Clone, Debug)]
pub struct Exchange {
    upstream: Option<Message>,
    response: Option<Message>,
    local_reply: Option<SentReply>,
    actions: Vec<(&'static str, Action)>,
    reset: bool,
}

impl Exchange {
    /// The request as the upstream received it.
    ///
    /// # Panics
    /// If it never reached the upstream (answered by the filter, or still paused).
    pub fn upstream(&self) -> &Message {
        self.upstream
            .as_ref()
            .unwrap_or_else(|| match &self.local_reply {
                Some(reply) => panic!(
                    "the request did not reach the upstream: the filter answered {} ({:?})",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ),
                None => panic!(
                    "the request did not reach the upstream: the stream is paused ({:?})",
                    self.actions
                ),
            })
    }

    /// Whether the request reached the upstream.
    pub fn reached_upstream(&self) -> bool {
        self.upstream.is_some()
    }

    /// The response as the client received it.
    ///
    /// # Panics
    /// If there is none yet (the stream is paused or was reset).
    pub fn response(&self) -> &Message {
        self.response.as_ref().unwrap_or_else(|| {
            panic!(
                "no response reached the client (reset: {}, actions: {:?})",
                self.reset, self.actions
            )
        })
    }

    /// The local reply the filter sent, if it sent one.
    pub fn local_reply(&self) -> Option<&SentReply> {
        self.local_reply.as_ref()
    }

    /// Each callback called, with the action it returned.
    pub fn actions(&self) -> &[(&'static str, Action)] {
        &self.actions
    }

    /// Whether the filter reset the stream.
    pub fn was_reset(&self) -> bool {
        self.reset
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

/// The request headers as Envoy's connection manager hands them to filters: with the
/// `x-forwarded-proto` and `x-request-id` it adds when the client sent none.
fn with_envoys_request_headers(mut headers: Pairs, stream: u32) -> Pairs {
    let has = |headers: &Pairs, name: &[u8]| headers.iter().any(|(k, _)| k == name);
    if !has(&headers, b"x-forwarded-proto") {
        headers.push((b"x-forwarded-proto".to_vec(), b"http".to_vec()));
    }
    if !has(&headers, b"x-request-id") {
        let id = format!("00000000-0000-4000-8000-{stream:012}");
        headers.push((b"x-request-id".to_vec(), id.into_bytes()));
    }
    headers
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

impl<'a> HttpStream<'a> {
    pub(crate) fn new(emulator: &'a Emulator, id: u32) -> HttpStream<'a> {
        HttpStream {
            emulator,
            id,
            request: Flow::default(),
            response: Flow::default(),
            actions: Vec::new(),
            completed: false,
        }
    }

    /// The host's id of this stream's context.
    pub fn context_id(&self) -> u32 {
        self.id
    }

    /// Calls stream callback `phase` if the module exports it; Envoy skips the others, and
    /// the stream goes on.
    fn call(&mut self, phase: &'static str, args: &[u64]) -> Action {
        // A failed VM is called no more: Envoy answers the stream itself (the reply stops
        // the request; the response goes by the filter untouched).
        if self.emulator.vm_failure().is_some() {
            self.fail_stream();
            return Action::Continue;
        }
        let export = format!("proxy_{phase}");
        if !self.emulator.guest_exports(&export) {
            return Action::Continue;
        }
        let mut with_context = vec![u64::from(self.id)];
        with_context.extend_from_slice(args);
        let raw = self.emulator.call_into(self.id, &export, &with_context);
        if self.emulator.vm_failure().is_some() {
            self.fail_stream();
            return Action::Continue;
        }
        let action = if raw == Action::Pause.raw() {
            Action::Pause
        } else {
            Action::Continue
        };
        self.actions.push((phase, action));
        action
    }

    /// What Envoy does to a stream whose VM failed: answers it `503`, no body
    /// (`wasm_fail_stream`), unless it is answered already.
    fn fail_stream(&mut self) {
        self.emulator.with_stream(self.id, |s| {
            s.local_reply.get_or_insert_with(|| SentReply {
                status: 503,
                details: "wasm_fail_stream".into(),
                body: Vec::new(),
                headers: Vec::new(),
                grpc_status: None,
            });
        });
    }

    /// After a phase has recorded where the stream stands: answers the callouts the
    /// emulator has answers for, then forwards whatever the filter resumed.
    fn settle(&mut self) {
        self.emulator.answer_pending_calls();
        self.after_callback();
    }

    /// Forwards whatever the filter resumed, after any callback.
    fn after_callback(&mut self) {
        for direction in [Direction::Request, Direction::Response] {
            let resumed = self
                .emulator
                .with_stream(self.id, |s| std::mem::take(&mut s.side(direction).resumed));
            if resumed && self.flow(direction).stopped {
                if self.flow(direction).held_at_headers {
                    self.release_headers(direction);
                } else {
                    self.forward(direction);
                }
            }
        }
    }

    fn flow(&mut self, direction: Direction) -> &mut Flow {
        match direction {
            Direction::Request => &mut self.request,
            Direction::Response => &mut self.response,
        }
    }

    /// The filter resumed a direction it paused at its headers: they go on, then Envoy
    /// delivers the body and trailers it held meanwhile.
    fn release_headers(&mut self, direction: Direction) {
        let headers = self.emulator.with_stream(self.id, |s| {
            let side = s.side(direction);
            side.headers_open = false;
            side.headers.clone()
        });
        let flow = self.flow(direction);
        flow.held_at_headers = false;
        flow.stopped = false;
        flow.headers_forwarded = true;
        flow.forwarded.headers = headers;
        let body = std::mem::take(&mut flow.held_body);
        let trailers = flow.held_trailers_at_headers.take();
        let end_arrived = flow.end_arrived;
        if !body.is_empty() {
            self.body(direction, &body, end_arrived && trailers.is_none());
        }
        match trailers {
            Some(trailers) => {
                self.trailers(direction, trailers);
            }
            None if body.is_empty() => self.flow(direction).complete = end_arrived,
            None => {}
        }
    }

    /// Lets everything held in `direction` go on, with the filter's current view of it.
    fn forward(&mut self, direction: Direction) {
        let (headers, body, trailers) = self.emulator.with_stream(self.id, |s| {
            let side = s.side(direction);
            side.headers_open = false;
            (
                side.headers.clone(),
                std::mem::take(&mut side.body),
                side.trailers.clone(),
            )
        });
        let flow = self.flow(direction);
        if !flow.headers_forwarded {
            flow.forwarded.headers = headers;
            flow.headers_forwarded = true;
        }
        flow.forwarded.body.extend_from_slice(&body);
        if flow.held_trailers.take().is_some() {
            flow.forwarded.trailers = trailers;
        }
        flow.stopped = false;
        flow.complete = flow.end_arrived;
    }

    /// Whether a local reply stops `direction`: the request's path ends at one; the
    /// response path goes on, the reply replacing what it carries.
    fn stopped_by_reply(&self, direction: Direction) -> bool {
        direction == Direction::Request && self.replied()
    }

    /// Delivers headers in `direction`; `end_of_stream` when no body or trailers follow.
    fn headers(&mut self, direction: Direction, headers: Pairs, end_of_stream: bool) -> Action {
        let headers = match direction {
            Direction::Request => with_envoys_request_headers(headers, self.id),
            Direction::Response => headers,
        };
        let count = headers.len();
        self.emulator.with_stream(self.id, |s| {
            let side = s.side(direction);
            side.headers = headers;
            side.headers_open = true;
        });
        self.flow(direction).end_arrived = end_of_stream;
        let id = self.id;
        let eos = end_of_stream as u32;
        let action = match direction {
            Direction::Request => {
                // Envoy's connection manager picks the route before filters run.
                self.emulator.host_effective(id);
                self.emulator.route();
                self.call("on_request_headers", &[count as u64, eos.into()])
            }
            Direction::Response => self.call("on_response_headers", &[count as u64, eos.into()]),
        };
        if action == Action::Continue && !self.stopped_by_reply(direction) {
            let headers = self.emulator.with_stream(id, |s| {
                let side = s.side(direction);
                side.headers_open = false;
                side.headers.clone()
            });
            let flow = self.flow(direction);
            flow.headers_forwarded = true;
            flow.forwarded.headers = headers;
            flow.complete = end_of_stream;
        } else {
            let held = !self.stopped_by_reply(direction);
            let flow = self.flow(direction);
            flow.stopped = true;
            flow.held_at_headers = held;
        }
        self.settle();
        action
    }

    /// Delivers a body chunk in `direction`; `Pause` without calling the filter while its
    /// headers callback holds the direction: Envoy keeps the body until the filter resumes.
    fn body(&mut self, direction: Direction, chunk: &[u8], end_of_stream: bool) -> Action {
        let flow = self.flow(direction);
        flow.end_arrived = end_of_stream;
        if flow.held_at_headers {
            flow.held_body.extend_from_slice(chunk);
            return Action::Pause;
        }
        let size = self.emulator.with_stream(self.id, |s| {
            let body = &mut s.side(direction).body;
            body.extend_from_slice(chunk);
            body.len()
        });
        let eos = end_of_stream as u32;
        let action = match direction {
            Direction::Request => self.call("on_request_body", &[size as u64, eos.into()]),
            Direction::Response => self.call("on_response_body", &[size as u64, eos.into()]),
        };
        if action == Action::Continue && !self.stopped_by_reply(direction) {
            self.forward(direction);
        } else {
            self.flow(direction).stopped = true;
        }
        self.settle();
        action
    }

    /// Delivers trailers in `direction` (its end).
    fn trailers(&mut self, direction: Direction, trailers: Pairs) -> Action {
        let flow = self.flow(direction);
        flow.end_arrived = true;
        if flow.held_at_headers {
            flow.held_trailers_at_headers = Some(trailers);
            return Action::Pause;
        }
        flow.held_trailers = Some(trailers.clone());
        let count = trailers.len();
        self.emulator
            .with_stream(self.id, |s| s.side(direction).trailers = trailers);
        let action = match direction {
            Direction::Request => self.call("on_request_trailers", &[count as u64]),
            Direction::Response => self.call("on_response_trailers", &[count as u64]),
        };
        if action == Action::Continue && !self.stopped_by_reply(direction) {
            self.forward(direction);
        } else {
            self.flow(direction).stopped = true;
        }
        self.settle();
        action
    }

    /// Delivers request headers; `end_of_stream` when no body or trailers follow.
    pub fn request_headers(&mut self, headers: &[(&str, &str)], end_of_stream: bool) -> Action {
        self.headers(Direction::Request, owned(headers), end_of_stream)
    }

    /// Delivers a request body chunk.
    /// Returns `Pause` without calling the filter while its headers callback holds the
    /// request: Envoy keeps the body until the filter resumes.
    pub fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Action {
        self.body(Direction::Request, chunk, end_of_stream)
    }

    /// Delivers request trailers (the end of the request).
    pub fn request_trailers(&mut self, trailers: &[(&str, &str)]) -> Action {
        self.trailers(Direction::Request, owned(trailers))
    }

    /// Delivers response headers.
    pub fn response_headers(&mut self, headers: &[(&str, &str)], end_of_stream: bool) -> Action {
        self.headers(Direction::Response, owned(headers), end_of_stream)
    }

    /// Delivers a response body chunk.
    /// Returns `Pause` without calling the filter while its headers callback holds the
    /// response.
    pub fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Action {
        self.body(Direction::Response, chunk, end_of_stream)
    }

    /// Delivers response trailers.
    pub fn response_trailers(&mut self, trailers: &[(&str, &str)]) -> Action {
        self.trailers(Direction::Response, owned(trailers))
    }

    /// The local reply the filter sent, if any.
    pub fn local_reply(&self) -> Option<SentReply> {
        self.emulator
            .with_stream(self.id, |s| s.local_reply.clone())
    }

    fn replied(&self) -> bool {
        self.local_reply().is_some()
    }

    /// The request as it went upstream; `None` until the whole of it has (a resume the
    /// filter made from another callback, such as a timer, counts).
    pub fn upstream_request(&mut self) -> Option<&Message> {
        self.after_callback();
        self.request.complete.then_some(&self.request.forwarded)
    }

    /// The response as it went to the client; `None` until the whole of it has.
    pub fn downstream_response(&mut self) -> Option<&Message> {
        self.after_callback();
        self.response.complete.then_some(&self.response.forwarded)
    }

    /// Whether the filter reset the stream.
    pub fn was_reset(&self) -> bool {
        self.emulator.with_stream(self.id, |s| s.reset)
    }

    /// Each callback called so far, with its action.
    pub fn actions(&self) -> &[(&'static str, Action)] {
        &self.actions
    }

    /// Runs a local reply through the response callbacks, as Envoy does for a reply sent
    /// from a request callback.
    fn answer_locally(&mut self, reply: &SentReply) {
        let mut headers = vec![(b":status".to_vec(), reply.status.to_string().into_bytes())];
        headers.extend(
            reply
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
        );
        if !reply.body.is_empty() {
            headers.push((
                b"content-length".to_vec(),
                reply.body.len().to_string().into_bytes(),
            ));
            headers.push((b"content-type".to_vec(), b"text/plain".to_vec()));
        }
        let body_follows = !reply.body.is_empty();
        self.headers(Direction::Response, headers, !body_follows);
        if body_follows {
            self.response_body(&reply.body.clone(), true);
        }
    }

    /// Sends `request` and, if it reaches the upstream, `upstream` back: the whole flow.
    pub(crate) fn exchange(mut self, request: Request, upstream: Response) -> Exchange {
        let Request {
            headers,
            body,
            trailers,
        } = request;
        // Envoy's codec answers headers over `max_request_headers_kb` (60 KiB by default)
        // itself, before any filter sees the stream.
        const MAX_REQUEST_HEADERS: usize = 60 * 1024;
        let size: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_REQUEST_HEADERS {
            self.completed = true;
            self.emulator.forget_stream(self.id);
            let reason = b"Request Header Fields Too Large".to_vec();
            return Exchange {
                upstream: None,
                response: Some(Message {
                    headers: vec![(b":status".to_vec(), b"431".to_vec())],
                    body: reason,
                    trailers: Vec::new(),
                }),
                local_reply: None,
                actions: Vec::new(),
                reset: false,
            };
        }
        let no_body = body.is_empty() && trailers.is_empty();
        self.headers(Direction::Request, headers, no_body);
        let chunks = body.len();
        for (i, chunk) in body.into_iter().enumerate() {
            if self.replied() {
                break;
            }
            self.request_body(&chunk, i + 1 == chunks && trailers.is_empty());
        }
        if !trailers.is_empty() && !self.replied() {
            self.trailers(Direction::Request, trailers);
        }
        self.wait_for_timers();

        let upstream_request = self.upstream_request().cloned();
        match (self.local_reply(), &upstream_request) {
            (Some(reply), _) => self.answer_locally(&reply),
            (None, Some(_)) => {
                let Response {
                    headers,
                    body,
                    trailers,
                } = upstream;
                let no_body = body.is_empty() && trailers.is_empty();
                self.headers(Direction::Response, headers, no_body);
                let chunks = body.len();
                for (i, chunk) in body.into_iter().enumerate() {
                    self.response_body(&chunk, i + 1 == chunks && trailers.is_empty());
                }
                if !trailers.is_empty() {
                    self.trailers(Direction::Response, trailers);
                }
                // A reply sent from a response callback replaces the upstream's response.
                if let Some(reply) = self.local_reply() {
                    self.response.forwarded = Message {
                        headers: vec![(b":status".to_vec(), reply.status.to_string().into_bytes())],
                        body: reply.body.clone(),
                        trailers: Vec::new(),
                    };
                    self.response.complete = true;
                }
            }
            (None, None) => {}
        }
        let exchange = Exchange {
            upstream: upstream_request,
            response: self.downstream_response().cloned(),
            local_reply: self.local_reply(),
            actions: self.actions.clone(),
            reset: self.was_reset(),
        };
        self.complete();
        exchange
    }

    /// A request the filter holds waits as in Envoy: while the plugin's timer runs, up to
    /// the route's timeout (15 s by default); a tick may let it go on.
    fn wait_for_timers(&mut self) {
        const ROUTE_TIMEOUT: Duration = Duration::from_secs(15);
        let mut waited = Duration::ZERO;
        while self.request.stopped && !self.replied() && waited < ROUTE_TIMEOUT {
            let Some(step) = self.emulator.shortest_tick_period() else {
                return;
            };
            self.emulator.advance(step);
            waited += step;
            self.after_callback();
        }
    }

    /// Ends the stream as Envoy does: `on_done`, `on_log`, `on_delete`.
    pub fn complete(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if std::mem::replace(&mut self.completed, true) {
            return;
        }
        let id = self.id;
        self.emulator.with_stream(id, |s| {
            s.request.headers_open = true;
            s.response.headers_open = true;
        });
        // Only what the module exports: `proxy_on_log` for `on_stream_done`, and
        // `proxy_on_delete` unless the filter is stateless.
        self.emulator.end_context(id);
        self.emulator.forget_stream(id);
    }
}

impl Drop for HttpStream<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}
