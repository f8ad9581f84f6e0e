//! grpc_auth on the emulator, with the service's answers scripted.

use envoy_wasm_sdk::grpc::GrpcStatus;
use envoy_wasm_sdk::testing::{Emulator, GrpcReply, Request, emulator_test};
use grpc_auth::proto::{CheckRequest, CheckResponse};
use grpc_auth::register_plugin;
use prost::Message as _;

fn with_service(
    service: impl FnMut(&envoy_wasm_sdk::testing::GrpcCall) -> GrpcReply + 'static,
) -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy
        .configure(r#"{"cluster": "grpc_service", "timeout_ms": 250}"#)
        .unwrap();
    envoy.answer_grpc_calls(service);
    envoy
}

#[emulator_test]
fn an_allowed_request_goes_on_with_the_user() {
    let envoy = with_service(|call| {
        let request = CheckRequest::decode(call.messages[0].as_slice()).unwrap();
        let allowed = request.token == "Bearer good" && request.path == "/orders";
        GrpcReply::Message(
            CheckResponse {
                allowed,
                user: "alice".into(),
            }
            .encode_to_vec(),
        )
    });
    let exchange = envoy.send(Request::get("/orders").header("authorization", "Bearer good"));
    assert_eq!(exchange.upstream().header("x-user"), Some("alice"));
    let call = &envoy.grpc_calls()[0];
    assert_eq!(
        (
            call.upstream.as_str(),
            call.service.as_str(),
            call.method.as_str()
        ),
        ("grpc_service", "auth.v1.Authorizer", "Check")
    );
    assert_eq!(call.timeout_ms, 250);
}

#[emulator_test]
fn denials_are_403_and_failures_503() {
    let cases = [
        (
            GrpcReply::Message(
                CheckResponse {
                    allowed: false,
                    user: String::new(),
                }
                .encode_to_vec(),
            ),
            403,
        ),
        (
            GrpcReply::Status(GrpcStatus::Unauthenticated, "no token".into()),
            403,
        ),
        (
            GrpcReply::Status(GrpcStatus::PermissionDenied, "not yours".into()),
            403,
        ),
        (
            GrpcReply::Status(GrpcStatus::Unavailable, "unavailable".into()),
            503,
        ),
        (
            GrpcReply::Status(GrpcStatus::DeadlineExceeded, "deadline exceeded".into()),
            503,
        ),
        (GrpcReply::Message(vec![0x12, 9]), 503),
    ];
    for (reply, status) in cases {
        let envoy = with_service(move |_| reply.clone());
        let exchange = envoy.send(Request::get("/"));
        assert!(!exchange.reached_upstream());
        assert_eq!(exchange.response().status(), Some(status));
    }
}

#[emulator_test]
fn bad_configurations_are_refused() {
    for (config, field) in [
        (r#"{"cluster": ""}"#, "field `cluster`"),
        (r#"{"cluster": "a", "timeout_ms": 0}"#, "field `timeout_ms`"),
    ] {
        let envoy = Emulator::new(register_plugin);
        assert!(
            envoy
                .configure(config)
                .unwrap_err()
                .to_string()
                .contains(field)
        );
    }
}
