//! One HTTP stream, driven a callback at a time with Envoy's flow: what a pause holds back,
//! and what goes on when the filter resumes.

use super::{Direction, Emulator, Flow, HttpStream, Message, Pairs, SentReply, owned};
use crate::abi::Action;

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
    pub(super) fn after_callback(&mut self) {
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
    pub(super) fn headers(
        &mut self,
        direction: Direction,
        headers: Pairs,
        end_of_stream: bool,
    ) -> Action {
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
    pub(super) fn trailers(&mut self, direction: Direction, trailers: Pairs) -> Action {
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

    pub(super) fn replied(&self) -> bool {
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
