//! gRPC streams on the emulator: a plugin's long-lived stream fed by its filters, a
//! filter's own stream, and each way a stream ends.

use envoy_wasm_sdk::grpc::{GrpcStatus, GrpcStream, GrpcStreamEvent, GrpcStreamRequest};
use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::testing::{Emulator, Request};
use std::cell::Cell;
use std::rc::Rc;

mod common;
use common::{Plain, configured};

/// What an event looks like in the log.
fn shown(event: &GrpcStreamEvent) -> String {
    match event {
        GrpcStreamEvent::InitialMetadata(pairs) => format!("metadata {}", pairs.len()),
        GrpcStreamEvent::Message(bytes) => format!("message {}", String::from_utf8_lossy(bytes)),
        GrpcStreamEvent::TrailingMetadata(pairs) => format!("trailers {}", pairs.len()),
        GrpcStreamEvent::Closed { status, message } => format!("closed {status} {message}"),
        other => format!("{other:?}"),
    }
}

mod shipper {
    use super::*;

    /// Opens one stream at configure; each request's path is sent on it when the request
    /// is done. A message `cancel` from the service makes it cancel the stream.
    pub struct Shipper {
        pub stream: Cell<Option<GrpcStream>>,
    }

    impl Plugin for Shipper {
        type Config = ();
        type Filter = Ship;

        fn configure(_: (), ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
            let open = GrpcStreamRequest::new("collector", "log.v1.Logs", "Ship")
                .metadata("x-shipper", "1")
                .max_message_bytes(16);
            let stream = ctx.grpc_stream(open, Shipper::on_event)?;
            Ok(Shipper {
                stream: Cell::new(Some(stream)),
            })
        }

        fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<Ship> {
            Some(Ship { plugin: self })
        }
    }

    impl Shipper {
        fn on_event(&self, event: GrpcStreamEvent, _ops: &mut PluginOps<Self>) {
            log::info!("plugin stream: {}", shown(&event));
            if event == GrpcStreamEvent::Message(b"cancel".to_vec())
                && let Some(stream) = self.stream.take()
            {
                stream.cancel().unwrap();
                log::info!(
                    "after cancel, send: {:?}",
                    stream.send(b"late").unwrap_err().status
                );
            }
            if matches!(event, GrpcStreamEvent::Closed { .. }) {
                self.stream.set(None);
            }
        }
    }

    pub struct Ship {
        plugin: Rc<Shipper>,
    }

    #[http_filter]
    impl HttpFilter for Ship {
        fn on_stream_done(&mut self, done: &mut StreamDoneOps) {
            let path = done.request_headers().get_str(":path").ok().flatten();
            if let (Some(stream), Some(path)) = (self.plugin.stream.get(), path) {
                stream.send(path.as_bytes()).unwrap();
            }
        }
    }

    envoy_wasm_sdk::entry!(Shipper);
}

mod asker {
    use super::*;

    /// Opens a stream per request, sends the path and holds the request; each answer is
    /// counted, and the second lets the request go on with them.
    #[derive(Default)]
    pub struct Ask {
        answers: u32,
    }

    #[http_filter]
    impl HttpFilter for Ask {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let path = req.headers().get_str(":path")?.unwrap_or_default();
            let open = GrpcStreamRequest::new("oracle", "ask.v1.Oracle", "Ask");
            let stream = req.grpc_stream(open, |this, event, ops| {
                log::info!("filter stream: {}", shown(&event));
                match event {
                    GrpcStreamEvent::Message(answer) => {
                        this.answers += 1;
                        ops.request_headers()
                            .add("x-answer", String::from_utf8_lossy(&answer).as_ref())?;
                        if this.answers == 2 {
                            ops.resume_request()?;
                        }
                    }
                    GrpcStreamEvent::Closed { status, .. } if status != GrpcStatus::Ok => {
                        return Err(Error::with_status(503, format!("oracle: {status}")));
                    }
                    _ => {}
                }
                Ok(())
            })?;
            stream.send_last(path.as_bytes())?;
            Ok(Action::Pause)
        }
    }

    envoy_wasm_sdk::entry!(Plain<Ask>);
}

fn logged_events(envoy: &Emulator, prefix: &str) -> Vec<String> {
    envoy
        .logs()
        .into_iter()
        .filter_map(|line| {
            let at = line.message.find(prefix)?;
            Some(line.message[at + prefix.len()..].to_owned())
        })
        .collect()
}

#[test]
fn a_plugin_stream_carries_what_its_filters_send_and_hears_every_event() {
    let envoy = configured(shipper::register_plugin);
    envoy.send(Request::get("/a"));
    envoy.send(Request::get("/b"));
    let call = &envoy.grpc_calls()[0];
    assert!(call.stream);
    assert_eq!(
        (call.service.as_str(), call.method.as_str()),
        ("log.v1.Logs", "Ship")
    );
    assert_eq!(call.metadata, [(b"x-shipper".to_vec(), b"1".to_vec())]);
    assert_eq!(call.messages, [b"/a".to_vec(), b"/b".to_vec()]);

    let token = call.token;
    envoy.send_grpc_initial_metadata(token, &[("x-accepted", "yes")]);
    envoy.send_grpc_message(token, "ack 2");
    envoy.send_grpc_trailing_metadata(token, &[("x-total", "2")]);
    envoy.close_grpc_call(token, GrpcStatus::Ok, "");
    assert_eq!(
        logged_events(&envoy, "plugin stream: "),
        [
            "metadata 3",
            "message ack 2",
            "trailers 1",
            "closed OK (0) "
        ]
    );
    // The SDK closed its side after the service's close, so Envoy forgets the stream.
    assert!(envoy.grpc_calls()[0].half_closed);
    // Nothing runs after the close: no handler is left.
    envoy.send_grpc_message(token, "late");
    assert_eq!(logged_events(&envoy, "plugin stream: ").len(), 4);
}

#[test]
fn a_trailers_only_answer_is_trailers_not_an_acceptance() {
    let envoy = configured(shipper::register_plugin);
    let token = envoy.grpc_calls()[0].token;
    // What Envoy sends for a service it cannot reach: one headers frame that ends it.
    envoy.send_grpc_initial_metadata(token, &[("grpc-status", "14"), ("grpc-message", "down")]);
    envoy.close_grpc_call(token, GrpcStatus::Unavailable, "down");
    assert_eq!(
        logged_events(&envoy, "plugin stream: "),
        ["trailers 4", "closed UNAVAILABLE (14) down"]
    );
}

#[test]
fn a_cancelled_stream_hears_nothing_more_and_refuses_sends() {
    let envoy = configured(shipper::register_plugin);
    let token = envoy.grpc_calls()[0].token;
    envoy.send_grpc_message(token, "cancel");
    assert!(envoy.grpc_calls()[0].cancelled);
    assert!(envoy.logged("after cancel, send: NotFound"));
    envoy.close_grpc_call(token, GrpcStatus::Unavailable, "gone");
    assert_eq!(logged_events(&envoy, "plugin stream: "), ["message cancel"]);
}

#[test]
fn a_message_over_the_limit_cancels_the_stream_as_resource_exhausted() {
    let envoy = configured(shipper::register_plugin);
    let token = envoy.grpc_calls()[0].token;
    envoy.send_grpc_message(token, "x".repeat(17));
    assert_eq!(
        logged_events(&envoy, "plugin stream: "),
        ["closed RESOURCE_EXHAUSTED (8) a message of 17 bytes, more than the 16 allowed"]
    );
    assert!(envoy.grpc_calls()[0].cancelled);
}

#[test]
fn a_service_that_goes_away_closes_the_stream_unavailable() {
    let envoy = configured(shipper::register_plugin);
    let token = envoy.grpc_calls()[0].token;
    envoy.close_grpc_call(token, GrpcStatus::Unavailable, "upstream connect error");
    assert_eq!(
        logged_events(&envoy, "plugin stream: "),
        ["closed UNAVAILABLE (14) upstream connect error"]
    );
    // The plugin forgot its stream: later requests send nothing.
    envoy.send(Request::get("/c"));
    assert!(envoy.grpc_calls()[0].messages.is_empty());
}

#[test]
fn a_filter_stream_drives_its_request_and_ends_with_it() {
    let envoy = configured(asker::register_plugin);
    let mut stream = envoy.stream();
    let held = stream.request_headers(&[(":method", "GET"), (":path", "/q")], true);
    assert_eq!(held, Action::Pause);
    let call = envoy.grpc_calls()[0].clone();
    assert_eq!(call.messages, [b"/q".to_vec()]);
    assert!(call.half_closed, "send_last ends the filter's side");
    envoy.send_grpc_message(call.token, "yes");
    assert!(
        stream.upstream_request().is_none(),
        "still held after one answer"
    );
    envoy.send_grpc_message(call.token, "maybe");
    let upstream = stream.upstream_request().expect("let go after two");
    assert_eq!(upstream.header_all("x-answer"), ["yes", "maybe"]);
    // The HTTP stream ends with the gRPC stream still open: the SDK cancels it.
    stream.complete();
    assert!(envoy.grpc_calls()[0].cancelled);
    envoy.send_grpc_message(call.token, "too late");
    assert_eq!(
        logged_events(&envoy, "filter stream: "),
        ["message yes", "message maybe"]
    );
}

#[test]
fn a_filter_stream_that_fails_answers_its_request() {
    let envoy = configured(asker::register_plugin);
    let mut stream = envoy.stream();
    stream.request_headers(&[(":method", "GET"), (":path", "/q")], true);
    let token = envoy.grpc_calls()[0].token;
    envoy.close_grpc_call(token, GrpcStatus::Unavailable, "no oracle");
    let reply = stream.local_reply().expect("answered");
    assert_eq!(reply.status, 503);
    assert!(envoy.logged("gRPC stream 1 failed: oracle: UNAVAILABLE (14) (answering 503)"));
}
