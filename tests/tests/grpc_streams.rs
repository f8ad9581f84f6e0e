//! A filter's gRPC stream in a real Envoy, on both targets (the probe's `grpc-stream`
//! mode against a real gRPC service), and on the emulator, with the same assertions: the
//! handler sees the service's metadata and message; once it cancels the stream nothing
//! more arrives, and a send fails with `NotFound`.

use envoy_tests::{Plugin, Reply, Upstream, grpc_message, on_both_targets, serve_with};
use envoy_wasm_sdk::testing::Emulator;

const EVENTS: &str = "metadata,message:hi back";

on_both_targets! {
    /// Natively the stream is an HTTP/2 stream Envoy starts for the request, its
    /// messages framed as gRPC's by the SDK.
    fn in_envoy() {
        let service = Upstream::start_with(|request| {
            assert_eq!(request.path, "/probe.v1.Echo/Chat");
            let mut answer = grpc_message(request);
            answer.extend_from_slice(b" back");
            Reply::grpc(&answer)
        });
        let (upstream, envoy) = serve_with(&Plugin::new("probe"), Some(&service));
        let response = envoy
            .http1()
            .get(envoy.url("/s"))
            .header("x-probe", "grpc-stream")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let seen = upstream.last_request().expect("resumed");
        assert_eq!(seen.header("x-stream-events"), Some(EVENTS));
        assert_eq!(seen.header("x-after-cancel"), Some("NotFound"));
        assert_eq!(
            service.last_request().unwrap().header("content-type"),
            Some("application/grpc")
        );
    }
}

on_both_targets! {
    /// A stream that is not cancelled: two messages, the trailers, the close with OK.
    fn every_event_then_the_close() {
        let service = Upstream::start_with(|request| {
            assert_eq!(grpc_message(request), b"hi");
            Reply::grpc_messages(&[b"hi back", b"and again"]).trailer("grpc-status", "0")
        });
        let seen = events(&service, "grpc-stream-whole");
        assert_eq!(
            seen.as_deref(),
            Some("metadata,message:hi back,message:and again,trailers,closed:0")
        );
    }

    /// A service that fails the stream: its status reaches the handler at the close.
    fn a_failed_stream_closes_with_the_services_status() {
        let service = Upstream::start_with(|_| Reply::grpc_status(14, "down"));
        let seen = events(&service, "grpc-stream-whole");
        assert_eq!(seen.as_deref(), Some("metadata,trailers,closed:14"));
    }

    /// An answer that is not gRPC's (an HTTP error page) is no metadata and no message:
    /// the stream closes with the status Envoy's gRPC client maps 501 to, UNKNOWN.
    fn an_http_error_page_closes_the_stream_with_its_mapped_status() {
        let service = Upstream::start_with(|_| {
            Reply::status(501)
                .header("content-type", "text/html")
                .body(&b"<html>not here</html>"[..])
        });
        let seen = events(&service, "grpc-stream-whole");
        assert_eq!(seen.as_deref(), Some("trailers,closed:2"));
    }

    /// An answer that ends without trailers: its messages, then empty trailing metadata,
    /// and a close with UNKNOWN (no `grpc-status`).
    fn an_answer_without_trailers_closes_with_unknown() {
        let service = Upstream::start_with(|_| Reply::grpc_messages(&[b"one"]));
        let seen = events(&service, "grpc-stream-whole");
        assert_eq!(seen.as_deref(), Some("metadata,message:one,trailers,closed:2"));
    }
}

/// What the probe's stream handler saw (`x-stream-events` on the resumed request) in
/// mode `mode`, against `service`.
fn events(service: &Upstream, mode: &str) -> Option<String> {
    let (upstream, envoy) = serve_with(&Plugin::new("probe"), Some(service));
    let response = envoy
        .http1()
        .get(envoy.url("/s"))
        .header("x-probe", mode)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = upstream.last_request().expect("resumed");
    seen.header("x-stream-events").map(str::to_owned)
}

#[test]
fn on_the_emulator() {
    let envoy = Emulator::new(probe::register_plugin);
    envoy.configure("").unwrap();
    let mut stream = envoy.stream();
    stream.request_headers(
        &[
            (":method", "GET"),
            (":path", "/s"),
            ("x-probe", "grpc-stream"),
        ],
        true,
    );
    let call = envoy.grpc_calls()[0].clone();
    assert_eq!(
        (call.service.as_str(), call.method.as_str()),
        ("probe.v1.Echo", "Chat")
    );
    assert_eq!(call.messages, [b"hi".to_vec()]);
    // The service answers as the real one does.
    envoy.send_grpc_initial_metadata(call.token, &[]);
    envoy.send_grpc_message(call.token, "hi back");
    envoy.send_grpc_trailing_metadata(call.token, &[("grpc-status", "0")]);
    envoy.close_grpc_call(call.token, envoy_wasm_sdk::grpc::GrpcStatus::Ok, "");
    let seen = stream.upstream_request().expect("resumed");
    assert_eq!(seen.header("x-stream-events"), Some(EVENTS));
    assert_eq!(seen.header("x-after-cancel"), Some("NotFound"));
}
