//! How filter failures look from outside, in a real Envoy, on both targets: an `Err` is a
//! local reply and an error log line, never a trap; a panic is logged with its message and
//! location, and fails the VM (the wasm module's, or the dynamic module's thread).

use envoy_tests::{Envoy, Plugin, Upstream, on_both_targets, serve};

fn start() -> (Upstream, Envoy) {
    serve(&Plugin::new("faulty"))
}

on_both_targets! {
    fn an_error_becomes_a_500_with_an_empty_body_and_a_log_line() {
        let (upstream, envoy) = start();
        let response = envoy
            .http1()
            .get(envoy.url("/"))
            .header("x-fault", "error")
            .send()
            .unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.text().unwrap(),
            "",
            "internals never reach the client"
        );
        assert!(upstream.requests().is_empty());
        assert!(
            envoy.wait_for_log("on_request_headers failed: asked to fail (answering 500)"),
            "{}",
            envoy.log()
        );
        // The VM is intact: the next request is served normally.
        let ok = envoy.http1().get(envoy.url("/")).send().unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(upstream.requests().len(), 1);
    }

    fn an_error_with_a_status_is_answered_with_it() {
        let (_upstream, envoy) = start();
        let response = envoy
            .http2()
            .get(envoy.url("/"))
            .header("x-fault", "status")
            .send()
            .unwrap();
        assert_eq!(response.status(), 418);
        assert_eq!(response.text().unwrap(), "asked for a teapot\n");
    }

    fn an_error_on_the_response_replaces_the_upstream_response() {
        let (upstream, envoy) = start();
        let response = envoy
            .http1()
            .get(envoy.url("/"))
            .header("x-fault", "response-error")
            .send()
            .unwrap();
        assert_eq!(upstream.requests().len(), 1, "the request went upstream");
        assert_eq!(response.status(), 500);
        assert!(
            response.headers().get("x-upstream").is_none(),
            "the upstream's response was replaced"
        );
        assert!(
            envoy.wait_for_log("on_response_headers failed: asked to fail the response"),
            "{}",
            envoy.log()
        );
    }

    fn a_panic_is_logged_with_its_message_and_location() {
        let (upstream, envoy) = start();
        let response = envoy
            .http1()
            .get(envoy.url("/"))
            .header("x-fault", "panic")
            .send();
        if let Ok(response) = response {
            assert!(
                response.status().is_server_error(),
                "{:?}",
                response.status()
            );
        }
        assert!(upstream.requests().is_empty());
        // The VM is failed for good: a later, harmless request is answered 503 too, and does
        // not reach the upstream (the emulator's wasm backend does the same: artifact.rs).
        let later = envoy.http1().get(envoy.url("/")).send().unwrap();
        assert_eq!(later.status(), 503);
        assert!(upstream.requests().is_empty());
        assert!(envoy.wait_for_log("asked to panic"), "{}", envoy.log());
        let line = envoy.log_line("asked to panic").unwrap();
        assert!(line.contains("[critical]"), "logged at critical: {line}");
        assert!(
            line.contains("panicked at tests/filters/faulty/src/lib.rs:")
                && line.ends_with(": asked to panic"),
            "message and location on one line: {line}"
        );
    }
}

/// Wasm only: `failure_policy` is the Wasm filter's; a dynamic module has no VM to reload.
#[test]
fn with_fail_reload_envoy_serves_again_after_a_panic() {
    let upstream = Upstream::start();
    let plugin = Plugin::new("faulty").failure_policy("FAIL_RELOAD");
    let envoy = Envoy::start(&plugin, &upstream).unwrap_or_else(|exited| panic!("{}", exited.log));
    let response = envoy
        .http1()
        .get(envoy.url("/"))
        .header("x-fault", "panic")
        .send()
        .unwrap();
    assert_eq!(response.status(), 503, "the panicking request fails");
    // Envoy reloads the VM after a backoff (1 s by default); then requests pass again.
    let reloaded = envoy_tests::wait_until(|| {
        envoy.http1().get(envoy.url("/")).send().unwrap().status() == 200
    });
    assert!(
        reloaded,
        "still failing after {:?}:\n{}",
        envoy_tests::WAIT,
        envoy.log()
    );
    assert_eq!(upstream.requests().len(), 1);
}
