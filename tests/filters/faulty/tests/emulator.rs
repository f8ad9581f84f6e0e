//! The failure paths on the emulator (the same table runs in Envoy in tests/tests/faults.rs).

use envoy_wasm_sdk::testing::{Emulator, Request, Response};
use faulty::register_plugin;

fn faulty() -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure("").unwrap();
    envoy
}

#[test]
fn an_error_becomes_a_500_with_an_empty_body() {
    let envoy = faulty();
    let exchange = envoy.send(Request::get("/").header("x-fault", "error"));
    assert!(!exchange.reached_upstream());
    assert_eq!(exchange.response().status(), Some(500));
    assert_eq!(exchange.response().body_text(), "");
    assert_eq!(exchange.local_reply().unwrap().details, "wasm_filter_error");
    assert!(envoy.logged("on_request_headers failed: asked to fail (answering 500)"));
}

#[test]
fn an_error_with_a_status_is_answered_with_it() {
    let envoy = faulty();
    let exchange = envoy.send(Request::get("/").header("x-fault", "status"));
    assert_eq!(exchange.response().status(), Some(418));
    assert_eq!(exchange.response().body_text(), "asked for a teapot\n");
}

#[test]
fn an_error_on_the_response_replaces_the_upstream_response() {
    let envoy = faulty();
    let exchange = envoy.send_with(
        Request::get("/").header("x-fault", "response-error"),
        Response::ok().header("x-upstream", "echo"),
    );
    assert!(exchange.reached_upstream());
    assert_eq!(exchange.response().status(), Some(500));
    assert_eq!(exchange.response().header("x-upstream"), None);
}

#[test]
#[should_panic(expected = "asked to panic")]
fn a_panic_is_a_panic_on_the_emulator_too() {
    let envoy = faulty();
    envoy.send(Request::get("/").header("x-fault", "panic"));
}
