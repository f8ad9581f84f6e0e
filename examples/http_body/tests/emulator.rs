//! http_body on the emulator.

use envoy_wasm_sdk::testing::{Emulator, Request, emulator_test};
use http_body::register_plugin;
use serde_json::{Value, json};

fn with(config: &str) -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(config).unwrap_or_else(|e| panic!("{e}"));
    envoy
}

fn json_post(body: &Value) -> Request {
    let text = body.to_string();
    Request::post("/users", text.clone())
        .header("content-type", "application/json")
        .header("content-length", text.len().to_string())
}

#[emulator_test]
fn fields_are_redacted_in_nested_objects_and_arrays() {
    let envoy = with(r#"{"redact": ["password", "card.number", "items.secret"]}"#);
    let body = json!({
        "user": "ann", "password": "hunter2",
        "card": {"number": "4111", "exp": "12/30"},
        "items": [{"secret": 1, "id": 1}, {"id": 2}]
    });
    let exchange = envoy.send(json_post(&body));
    let upstream = exchange.upstream();
    let seen: Value = serde_json::from_slice(&upstream.body).unwrap();
    assert_eq!(seen["password"], "[redacted]");
    assert_eq!(seen["card"]["number"], "[redacted]");
    assert_eq!(seen["card"]["exp"], "12/30");
    assert_eq!(seen["items"][0]["secret"], "[redacted]");
    assert_eq!(seen["items"][1], json!({"id": 2}));
    assert_eq!(
        upstream.header("content-length"),
        None,
        "no stale length: the real one goes on"
    );
}

#[emulator_test]
fn a_body_in_chunks_is_buffered_whole() {
    let envoy = with(r#"{"redact": ["password"]}"#);
    let text = json!({"password": "x", "pad": "y".repeat(100)}).to_string();
    let (a, b) = text.split_at(10);
    let exchange = envoy.send(
        Request::post("/", "")
            .chunks([a, b])
            .header("content-type", "application/json"),
    );
    let seen: Value = serde_json::from_slice(&exchange.upstream().body).unwrap();
    assert_eq!(seen["password"], "[redacted]");
}

#[emulator_test]
fn bodies_that_cannot_be_handled_get_clear_replies() {
    let envoy = with(r#"{"redact": ["password"], "max_body_bytes": 100}"#);
    let big = json!({"pad": "z".repeat(200)});
    let cases = [
        (json_post(&big), 413, "body larger than 100 bytes\n"),
        (
            Request::post("/", "a=b").header("content-type", "application/x-www-form-urlencoded"),
            415,
            "",
        ),
        (
            Request::post("/", "{oops").header("content-type", "application/json"),
            400,
            "",
        ),
    ];
    for (request, status, body) in cases {
        let exchange = envoy.send(request);
        assert!(!exchange.reached_upstream());
        assert_eq!(exchange.response().status(), Some(status));
        if !body.is_empty() {
            assert_eq!(exchange.response().body_text(), body);
        }
    }
}

#[emulator_test]
fn requests_without_a_body_or_fields_pass_untouched() {
    let envoy = with(r#"{"redact": ["password"]}"#);
    assert!(envoy.send(Request::get("/")).reached_upstream());
    let body = json!({"user": "ann"});
    let exchange = envoy.send(json_post(&body));
    assert_eq!(exchange.upstream().body, body.to_string().into_bytes());
}

#[emulator_test]
fn bad_configurations_are_refused() {
    for (config, field) in [
        (r#"{"redact": []}"#, "field `redact`"),
        (r#"{"redact": ["a..b"]}"#, "field `redact[0]`"),
        (
            r#"{"redact": ["a"], "max_body_bytes": 0}"#,
            "field `max_body_bytes`",
        ),
    ] {
        let envoy = Emulator::new(register_plugin);
        let failed = envoy.configure(config).unwrap_err();
        assert!(failed.to_string().contains(field), "{config}: {failed}");
    }
}
