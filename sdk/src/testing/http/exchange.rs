//! A whole exchange: a request through the filter, the upstream's answer back, and what
//! came of it.

use super::{Direction, HttpStream, Message, Request, Response, SentReply};
use crate::abi::Action;
use std::time::Duration;

/// What happened to one request: see [`Emulator::send`](crate::testing::Emulator::send).
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

impl HttpStream<'_> {
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
}
