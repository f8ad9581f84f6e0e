//! A filter's gRPC stream in a real Envoy (the probe's `grpc-stream` mode against a real
//! gRPC service) and on the emulator, with the same assertions: the handler sees the
//! service's metadata and message; once it cancels the stream nothing more arrives, and a
//! send fails with `NotFound`.

use envoy_tests::{Plugin, Reply, Upstream, grpc_message, serve_with};
use envoy_wasm_sdk::testing::Emulator;

const EVENTS: &str = "metadata,message:hi back";

#[test]
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
