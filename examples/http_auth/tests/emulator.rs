//! http_auth on the emulator: the auth service's answers are scripted.

use envoy_wasm_sdk::testing::{CalloutReply, Emulator, Request, Response, emulator_test};
use http_auth::register_plugin;

const CONFIG: &str = r#"{"cluster": "auth", "timeout_ms": 300, "copy_headers": ["x-user"]}"#;

/// An emulator whose auth service answers like `service`.
fn with_service(
    service: impl FnMut(&envoy_wasm_sdk::testing::HttpCall) -> CalloutReply + 'static,
) -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(CONFIG).unwrap_or_else(|e| panic!("{e}"));
    envoy.answer_http_calls(service);
    envoy
}

fn header<'a>(call: &'a envoy_wasm_sdk::testing::HttpCall, name: &str) -> Option<&'a str> {
    call.headers
        .iter()
        .find(|(k, _)| k == name.as_bytes())
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

#[emulator_test]
fn an_allowed_request_goes_on_with_the_user() {
    let envoy = with_service(|_| CalloutReply::Respond(Response::ok().header("x-user", "alice")));
    let exchange = envoy.send(Request::get("/orders").header("authorization", "Bearer good"));
    let upstream = exchange.upstream();
    assert_eq!(upstream.header("x-user"), Some("alice"));
    assert_eq!(exchange.response().status(), Some(200));
    assert_eq!(envoy.metric("http_auth.allowed"), Some(1));

    let call = &envoy.http_calls()[0];
    assert_eq!(call.upstream, "auth");
    assert_eq!(call.timeout_ms, 300);
    assert_eq!(header(call, ":path"), Some("/check"));
    assert_eq!(header(call, "authorization"), Some("Bearer good"));
    assert_eq!(header(call, "x-original-path"), Some("/orders"));
    assert_eq!(header(call, "x-original-method"), Some("GET"));
}

#[emulator_test]
fn a_denied_request_is_answered_403() {
    for status in [401, 403] {
        let envoy = with_service(move |_| CalloutReply::Respond(Response::new(status)));
        let exchange = envoy.send(Request::get("/").header("authorization", "Bearer bad"));
        assert!(!exchange.reached_upstream());
        assert_eq!(exchange.response().status(), Some(403));
        assert_eq!(exchange.response().body_text(), "forbidden\n");
        assert_eq!(envoy.metric("http_auth.denied"), Some(1));
    }
}

#[emulator_test]
fn a_failing_service_fails_closed() {
    // The SDK types Envoy's own answers: its 504 at the timeout, its 503 when it cannot
    // connect, and a reset.
    let failures = [
        (CalloutReply::Fail("reset".into()), "the call failed: reset"),
        (
            CalloutReply::Respond(Response::new(500)),
            "auth service answered 500",
        ),
        (CalloutReply::TimeOut, "the call timed out"),
        (
            CalloutReply::Respond(
                Response::new(503)
                    .body("upstream connect error or disconnect/reset before headers"),
            ),
            "the call failed: upstream connect error",
        ),
    ];
    for (failure, why) in failures {
        let envoy = with_service(move |_| failure.clone());
        let exchange = envoy.send(Request::get("/"));
        assert!(!exchange.reached_upstream());
        assert_eq!(exchange.response().status(), Some(503));
        assert_eq!(
            exchange.response().body_text(),
            "auth service unavailable\n"
        );
        assert_eq!(envoy.metric("http_auth.failed"), Some(1));
        assert!(envoy.logged(why), "{why}: {:?}", envoy.logs());
    }
}

#[emulator_test]
fn the_request_waits_for_the_answer() {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(CONFIG).unwrap();
    let mut stream = envoy.stream();
    stream.request_headers(
        &[
            (":method", "GET"),
            (":path", "/slow"),
            ("authorization", "t"),
        ],
        true,
    );
    assert!(
        stream.upstream_request().is_none(),
        "held while the service thinks"
    );
    let token = envoy.http_calls()[0].token;
    envoy.respond_http_call(token, Response::ok());
    assert_eq!(
        stream.upstream_request().map(|r| r.header(":path")),
        Some(Some("/slow"))
    );
}

#[emulator_test]
fn bad_configurations_are_refused_naming_the_field() {
    for (config, field) in [
        (r#"{}"#, "cluster"),
        (r#"{"cluster": ""}"#, "cluster"),
        (r#"{"cluster": "a", "path": "check"}"#, "path"),
        (r#"{"cluster": "a", "timeout_ms": 0}"#, "timeout_ms"),
        (
            r#"{"cluster": "a", "copy_headers": ["X-User"]}"#,
            "copy_headers[0]",
        ),
    ] {
        let envoy = Emulator::new(register_plugin);
        let failed = envoy.configure(config).expect_err(config);
        assert_eq!(failed.field_path(), Some(field), "{config}: {failed}");
    }
}
