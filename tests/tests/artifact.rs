//! What only the artifact shows: the same test body on the native backend and on the
//! compiled module (`Emulator::from_wasm`) sees a panic differently. Natively a panic
//! unwinds into the test; in the VM it aborts, the VM is failed for good, and every later
//! request is answered `503` without reaching the upstream, which is what Envoy 1.40 does
//! (checked in a real Envoy by `faults.rs`).

use envoy_tests::wasm_path;
use envoy_wasm_sdk::testing::{Emulator, Request};

fn panicking_then_plain(envoy: &Emulator) -> (u16, u16, bool) {
    envoy.configure("").unwrap();
    let panicked = envoy.send(Request::get("/").header("x-fault", "panic"));
    let later = envoy.send(Request::get("/"));
    (
        panicked.response().status().unwrap_or(0),
        later.response().status().unwrap_or(0),
        later.reached_upstream(),
    )
}

#[test]
fn natively_a_panic_unwinds_into_the_test() {
    let outcome = std::panic::catch_unwind(|| {
        let envoy = Emulator::new(faulty::register_plugin);
        panicking_then_plain(&envoy)
    });
    // The native run never sees what Envoy would do next: the test itself panics.
    let panic = outcome.expect_err("the filter's panic reaches the test");
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert_eq!(message, "asked to panic");
}

#[test]
fn in_the_vm_a_panic_fails_it_and_every_later_request() {
    let envoy = Emulator::from_wasm(wasm_path("faulty"));
    let (panicked, later, later_reached_upstream) = panicking_then_plain(&envoy);
    assert_eq!((panicked, later), (503, 503));
    assert!(!later_reached_upstream, "a failed VM is called no more");
    let failure = envoy.vm_failure().expect("the VM failed");
    assert!(
        failure.starts_with("Function: proxy_on_request_headers failed: "),
        "{failure}"
    );
    // The SDK's panic hook logged the message and its place before the VM aborted.
    let logged = envoy
        .logs()
        .into_iter()
        .find(|line| line.message.contains("asked to panic"))
        .expect("the panic is logged");
    assert!(
        logged
            .message
            .starts_with("panicked at tests/filters/faulty/src/lib.rs:"),
        "{}",
        logged.message
    );
}
