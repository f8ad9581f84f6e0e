//! hello_world on the emulator: no Envoy needed, milliseconds per test.

use envoy_wasm_sdk::testing::{Emulator, Request, Response, emulator_test};
use hello_world::register_plugin;

fn hello() -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy
        .configure("")
        .expect("hello_world takes no configuration");
    envoy
}

#[emulator_test]
fn logs_when_the_plugin_starts() {
    let envoy = hello();
    assert!(
        envoy.logged("plugin test_plugin started"),
        "{:?}",
        envoy.logs()
    );
}

#[emulator_test]
fn adds_the_response_header_and_leaves_the_request_alone() {
    let envoy = hello();
    let exchange = envoy.send_with(
        Request::post("/items?id=1", "{}").header("x-client", "t"),
        Response::new(201)
            .header("content-type", "application/json")
            .body("{}"),
    );
    let upstream = exchange.upstream();
    assert_eq!(upstream.header(":path"), Some("/items?id=1"));
    assert_eq!(upstream.header("x-client"), Some("t"));
    assert_eq!(upstream.header("x-hello"), None);
    assert_eq!(upstream.body_text(), "{}");
    let response = exchange.response();
    assert_eq!(response.status(), Some(201));
    assert_eq!(response.header("x-hello"), Some("world"));
    assert_eq!(response.body_text(), "{}");
}

#[emulator_test]
fn logs_each_request() {
    let envoy = hello();
    envoy.send(Request::get("/a"));
    envoy.send(Request::new("DELETE", "/b"));
    assert!(envoy.logged("GET /a"));
    assert!(envoy.logged("DELETE /b"));
}

#[emulator_test]
fn a_request_without_method_or_path_still_passes() {
    let envoy = hello();
    let mut stream = envoy.stream();
    stream.request_headers(&[("x-only", "1")], true);
    assert!(stream.upstream_request().is_some());
    assert!(
        // `[<x-request-id>] ` (the stream's prefix), then ` `: an empty method and path.
        envoy
            .logs()
            .iter()
            .any(|record| record.message.ends_with("]  ")),
        "empty method and path are logged as such"
    );
}

#[emulator_test]
fn any_configuration_other_than_none_is_refused() {
    let envoy = Emulator::new(register_plugin);
    let failed = envoy.configure(r#"{"greeting": "hi"}"#).unwrap_err();
    assert!(
        failed.to_string().contains("invalid plugin configuration"),
        "{failed}"
    );
}

#[emulator_test]
fn a_line_logged_for_a_stream_starts_with_its_request_id() {
    let envoy = hello();
    envoy.send(Request::get("/traced").header("x-request-id", "abc-1"));
    assert!(envoy.logged("[abc-1] GET /traced"), "{:?}", envoy.logs());
    assert!(
        envoy
            .logs()
            .iter()
            .any(|r| r.message == "plugin test_plugin started"),
        "plugin-level lines carry no id"
    );
}
