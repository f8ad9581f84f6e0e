//! grpc_auth in a real Envoy, calling a real gRPC service (HTTP/2, length-prefixed messages,
//! `grpc-status` trailers) that the test starts; on both targets (natively the call is an
//! HTTP/2 stream the filter starts through Envoy's dynamic-module ABI).

use envoy_tests::{Plugin, Reply, Upstream, grpc_message, on_both_targets, serve_with};
use grpc_auth::proto::{CheckRequest, CheckResponse};
use prost::Message as _;
use std::time::Duration;

const CONFIG: &str = r#"{"cluster": "grpc_service", "timeout_ms": 300}"#;

fn authorizer() -> Upstream {
    Upstream::start_with(|request| {
        assert_eq!(request.path, "/auth.v1.Authorizer/Check");
        let check = CheckRequest::decode(grpc_message(request).as_slice()).unwrap_or_default();
        match check.token.as_str() {
            "Bearer good" => Reply::grpc(
                &CheckResponse {
                    allowed: true,
                    user: format!("alice@{}", check.path),
                }
                .encode_to_vec(),
            ),
            "Bearer bad" => Reply::grpc(
                &CheckResponse {
                    allowed: false,
                    user: String::new(),
                }
                .encode_to_vec(),
            ),
            "Bearer slow" => Reply::grpc(
                &CheckResponse {
                    allowed: true,
                    user: "late".into(),
                }
                .encode_to_vec(),
            )
            .delay(Duration::from_secs(2)),
            _ => Reply::grpc_status(16, "no token"),
        }
    })
}

on_both_targets! {
    fn allowed_denied_and_unauthenticated_requests() {
        allowed_denied_and_unauthenticated();
    }
}

on_both_targets! {
    fn a_service_that_is_down_or_slow_fails_closed() {
        down_or_slow();
    }
}

fn allowed_denied_and_unauthenticated() {
    let service = authorizer();
    let (upstream, envoy) = serve_with(&Plugin::new("grpc_auth").config(CONFIG), Some(&service));
    let allowed = envoy
        .http1()
        .get(envoy.url("/orders"))
        .header("authorization", "Bearer good")
        .send()
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        upstream.last_request().unwrap().header("x-user"),
        Some("alice@/orders")
    );
    let call = service.last_request().unwrap();
    assert_eq!(call.header("content-type"), Some("application/grpc"));

    let denied = envoy
        .http2()
        .get(envoy.url("/orders"))
        .header("authorization", "Bearer bad")
        .send()
        .unwrap();
    assert_eq!(denied.status(), 403);
    let anonymous = envoy.http1().get(envoy.url("/orders")).send().unwrap();
    assert_eq!(anonymous.status(), 403, "UNAUTHENTICATED is a denial");
    assert_eq!(upstream.requests().len(), 1);
}

fn down_or_slow() {
    let (upstream, envoy) = serve_with(&Plugin::new("grpc_auth").config(CONFIG), None);
    let down = envoy
        .http1()
        .get(envoy.url("/"))
        .header("authorization", "Bearer good")
        .send()
        .unwrap();
    assert_eq!(down.status(), 503);
    assert_eq!(down.text().unwrap(), "auth service unavailable\n");

    let service = authorizer();
    let (slow_upstream, slow_envoy) =
        serve_with(&Plugin::new("grpc_auth").config(CONFIG), Some(&service));
    let (slow, waited) = slow_envoy.get_bearer_timed("/", "slow");
    assert_eq!(slow.status(), 503);
    assert!(
        waited < Duration::from_millis(1500),
        "answered at the timeout"
    );
    assert!(upstream.requests().is_empty() && slow_upstream.requests().is_empty());

    // No endpoints at all: Envoy ends the call inside the call that starts it; the request
    // is still answered at once, not at a timeout.
    let config = r#"{"cluster": "no_endpoints", "timeout_ms": 10000}"#;
    let (none_upstream, none_envoy) = serve_with(&Plugin::new("grpc_auth").config(config), None);
    let (none, waited) = none_envoy.get_bearer_timed("/", "good");
    assert!(
        waited < Duration::from_secs(5),
        "lost until a timeout: {waited:?}"
    );
    assert_eq!(
        (none.status().as_u16(), none_upstream.requests().len()),
        (503, 0)
    );
}
