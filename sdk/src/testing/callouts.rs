//! HTTP and gRPC callouts: what the filter asked, and the answers, by responder or by hand.

use super::Emulator;
use super::host::{GrpcCall, HttpCall};
use super::http::{Message, Response};
use crate::grpc::GrpcStatus;

pub(super) type HttpResponder = Box<dyn FnMut(&HttpCall) -> CalloutReply>;

pub(super) type GrpcResponder = Box<dyn FnMut(&GrpcCall) -> GrpcReply>;

/// How the emulator answers an HTTP callout (see [`Emulator::answer_http_calls`]).
#[derive(Clone, Debug)]
pub enum CalloutReply {
    /// The service answers with this response.
    Respond(Response),
    /// The call fails without a response (reset), with this reason.
    Fail(String),
    /// The service does not answer in time: Envoy's own `504 upstream request timeout`.
    TimeOut,
}

impl From<Response> for CalloutReply {
    fn from(response: Response) -> CalloutReply {
        CalloutReply::Respond(response)
    }
}

/// How the emulator answers a gRPC call (see [`Emulator::answer_grpc_calls`]).
#[derive(Clone, Debug)]
pub enum GrpcReply {
    /// The service answers with this serialized message (status OK).
    Message(Vec<u8>),
    /// The call ends with this gRPC status and message.
    Status(GrpcStatus, String),
}

impl Emulator {
    /// Answers every HTTP callout the filter makes from now on with what `responder`
    /// returns for it (a response, or a failure), as soon as the callback that made it
    /// returns.
    pub fn answer_http_calls(&self, responder: impl FnMut(&HttpCall) -> CalloutReply + 'static) {
        *self.http_responder.borrow_mut() = Some(Box::new(responder));
    }

    /// Answers every gRPC call the filter makes from now on with what `responder` returns.
    pub fn answer_grpc_calls(&self, responder: impl FnMut(&GrpcCall) -> GrpcReply + 'static) {
        *self.grpc_responder.borrow_mut() = Some(Box::new(responder));
    }

    /// Delivers answers for the calls not answered yet, if responders are set.
    pub(crate) fn answer_pending_calls(&self) {
        loop {
            let next_http = {
                let state = self.host.state.borrow();
                let answered = self.answered.borrow();
                state
                    .http_calls
                    .iter()
                    .find(|c| !answered.contains(&c.token))
                    .cloned()
            };
            if let Some(call) = next_http {
                let Some(reply) = self.http_responder.borrow_mut().as_mut().map(|r| r(&call))
                else {
                    break;
                };
                match reply {
                    CalloutReply::Respond(response) => self.respond_http_call(call.token, response),
                    CalloutReply::Fail(reason) => self.fail_http_call(call.token, &reason),
                    CalloutReply::TimeOut => self.time_out_http_call(call.token),
                }
                continue;
            }
            let next_grpc = {
                let state = self.host.state.borrow();
                let answered = self.answered.borrow();
                // Unary calls only: a stream's events are the test's to send.
                state
                    .grpc_calls
                    .iter()
                    .find(|c| !c.stream && !answered.contains(&c.token))
                    .cloned()
            };
            let Some(call) = next_grpc else { break };
            let Some(reply) = self.grpc_responder.borrow_mut().as_mut().map(|r| r(&call)) else {
                break;
            };
            match reply {
                GrpcReply::Message(message) => self.respond_grpc_call(call.token, message),
                GrpcReply::Status(status, message) => {
                    self.close_grpc_call(call.token, status, &message)
                }
            }
        }
    }

    /// Every HTTP callout made so far.
    pub fn http_calls(&self) -> Vec<HttpCall> {
        self.host.state.borrow().http_calls.clone()
    }

    /// Answers HTTP callout `token` with `response`.
    pub fn respond_http_call(&self, token: u32, response: Response) {
        let message = response.into_message();
        self.deliver_http_call(token, message, (0, Vec::new()));
    }

    /// Times out HTTP callout `token` as Envoy does: it answers the call itself with
    /// `504` and the body `upstream request timeout`.
    pub fn time_out_http_call(&self, token: u32) {
        let timeout = Response::new(504)
            .header("content-type", "text/plain")
            .body("upstream request timeout");
        self.respond_http_call(token, timeout);
    }

    /// Fails HTTP callout `token` as Envoy does for a reset: no headers, and `reason` from
    /// `proxy_get_status`. (A service Envoy cannot connect to is answered `503` by Envoy
    /// itself; respond with that to model it.)
    pub fn fail_http_call(&self, token: u32, reason: &str) {
        self.deliver_http_call(token, Message::default(), (0, reason.as_bytes().to_vec()));
    }

    fn deliver_http_call(&self, token: u32, message: Message, status: (u32, Vec<u8>)) {
        self.answered.borrow_mut().insert(token);
        let context = self.callout_context(&self.host.state.borrow().http_calls, token, |c| {
            (c.token, c.context_id)
        });
        let counts = (
            message.headers.len(),
            message.body.len(),
            message.trailers.len(),
        );
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.callout.headers = message.headers;
            state.callout.body = message.body;
            state.callout.trailers = message.trailers;
            state.callout.status = status;
        }
        let args = [context, token].map(u64::from);
        let counts = [counts.0, counts.1, counts.2].map(|n| n as u64);
        self.call_into(
            context,
            "proxy_on_http_call_response",
            &[args[0], args[1], counts[0], counts[1], counts[2]],
        );
    }

    /// Every gRPC callout made so far.
    pub fn grpc_calls(&self) -> Vec<GrpcCall> {
        self.host.state.borrow().grpc_calls.clone()
    }

    /// Answers gRPC call `token`: initial metadata, one message, then status OK.
    pub fn respond_grpc_call(&self, token: u32, message: impl Into<Vec<u8>>) {
        self.send_grpc_initial_metadata(token, &[]);
        self.send_grpc_message(token, message);
        self.close_grpc_call(token, GrpcStatus::Ok, "");
    }

    /// The service sends its initial metadata on gRPC call or stream `token`: as Envoy
    /// delivers a service's response headers, `:status: 200` and `content-type:
    /// application/grpc`, then `metadata`.
    pub fn send_grpc_initial_metadata(&self, token: u32, metadata: &[(&str, &str)]) {
        let Some(context) = self.grpc_event_context(token) else {
            return;
        };
        let mut headers = to_pairs(&[(":status", "200"), ("content-type", "application/grpc")]);
        headers.extend(to_pairs(metadata));
        let count = headers.len();
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.callout.headers = headers;
        }
        self.grpc_event(
            context,
            token,
            "proxy_on_grpc_receive_initial_metadata",
            count as u64,
        );
    }

    /// The service sends one message on gRPC call or stream `token`.
    pub fn send_grpc_message(&self, token: u32, message: impl Into<Vec<u8>>) {
        let Some(context) = self.grpc_event_context(token) else {
            return;
        };
        let message = message.into();
        let size = message.len();
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.grpc_message = message;
        }
        self.grpc_event(context, token, "proxy_on_grpc_receive", size as u64);
    }

    /// The service sends its trailing metadata on gRPC call or stream `token`.
    pub fn send_grpc_trailing_metadata(&self, token: u32, metadata: &[(&str, &str)]) {
        let Some(context) = self.grpc_event_context(token) else {
            return;
        };
        let count = metadata.len();
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.callout.trailers = to_pairs(metadata);
        }
        self.grpc_event(
            context,
            token,
            "proxy_on_grpc_receive_trailing_metadata",
            count as u64,
        );
    }

    /// Closes gRPC call or stream `token` with `status` and `message`, as Envoy does when
    /// the service ends it (`Unavailable` when the service cannot be reached or goes away).
    pub fn close_grpc_call(&self, token: u32, status: GrpcStatus, message: &str) {
        let Some(context) = self.grpc_event_context(token) else {
            return;
        };
        let code = status.code();
        {
            let mut state = self.host.state.borrow_mut();
            state.callout.owner = context;
            state.callout.status = (code, message.as_bytes().to_vec());
        }
        self.grpc_event(context, token, "proxy_on_grpc_close", u64::from(code));
    }

    /// Delivers a gRPC event (`export` with its last argument) to `context`.
    fn grpc_event(&self, context: u32, token: u32, export: &str, last: u64) {
        self.call_into(
            context,
            export,
            &[u64::from(context), u64::from(token), last],
        );
    }

    /// The plugin context that gets call `token`'s events, unless the filter cancelled it
    /// (Envoy then delivers nothing more).
    fn grpc_event_context(&self, token: u32) -> Option<u32> {
        self.answered.borrow_mut().insert(token);
        let state = self.host.state.borrow();
        let call = state.grpc_calls.iter().find(|c| c.token == token);
        let call = call.unwrap_or_else(|| panic!("no gRPC call with token {token}"));
        (!call.cancelled).then_some(call.context_id)
    }

    fn callout_context<T>(&self, calls: &[T], token: u32, key: impl Fn(&T) -> (u32, u32)) -> u32 {
        calls
            .iter()
            .map(key)
            .find(|(t, _)| *t == token)
            .map(|(_, context)| context)
            .unwrap_or_else(|| panic!("no callout with token {token}"))
    }
}

fn to_pairs(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

impl Response {
    fn into_message(self) -> Message {
        let (headers, body, trailers) = self.into_parts();
        Message {
            headers,
            body: body.concat(),
            trailers,
        }
    }
}
