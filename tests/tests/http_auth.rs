//! http_auth in a real Envoy, calling a real auth service started by the test.

use envoy_tests::{Plugin, Reply, Target, Upstream, on_both_targets, serve_with};
use std::time::Duration;

const CONFIG: &str = r#"{"cluster": "service", "timeout_ms": 300, "copy_headers": ["x-user"]}"#;

/// Allows `Bearer good` (as alice), denies `Bearer bad`, and answers 401 otherwise.
fn auth_service() -> Upstream {
    Upstream::start_with(|request| match request.header("authorization") {
        Some("Bearer good") => Reply::status(200).header("x-user", "alice"),
        Some("Bearer slow") => Reply::status(200).delay(Duration::from_secs(2)),
        Some("Bearer bad") => Reply::status(403),
        _ => Reply::status(401),
    })
}

on_both_targets! {
    fn allowed_denied_and_unauthenticated_requests() {
        let auth = auth_service();
        let (upstream, envoy) = serve_with(&Plugin::new("http_auth").config(CONFIG), Some(&auth));

        let allowed = envoy
            .http1()
            .get(envoy.url("/orders"))
            .header("authorization", "Bearer good")
            .send()
            .unwrap();
        assert_eq!(allowed.status(), 200);
        let seen = upstream
            .last_request()
            .expect("the allowed request went upstream");
        assert_eq!(seen.header("x-user"), Some("alice"));
        let check = auth.last_request().unwrap();
        assert_eq!(check.path, "/check");
        assert_eq!(check.header("x-original-path"), Some("/orders"));

        let denied = envoy
            .http2()
            .get(envoy.url("/orders"))
            .header("authorization", "Bearer bad")
            .send()
            .unwrap();
        assert_eq!(denied.status(), 403);
        assert_eq!(denied.text().unwrap(), "forbidden\n");
        let anonymous = envoy.http1().get(envoy.url("/orders")).send().unwrap();
        assert_eq!(anonymous.status(), 403);
        assert_eq!(
            upstream.requests().len(),
            1,
            "denied requests never reach the upstream"
        );

        // Envoy's admin /stats shows the filter's counters.
        assert_eq!(
            envoy.stat("wasmcustom.http_auth.allowed"),
            Some(1),
            "{}",
            envoy.stats()
        );
        assert_eq!(envoy.stat("wasmcustom.http_auth.denied"), Some(2));
        // The labelled family, on both targets: the label goes into the name on Wasm (the
        // proxy-wasm ABI has no labels), and is a tag Envoy appends natively.
        // (The SDK's `metrics` docs give the names on each target.)
        let (users, prometheus) = match Target::current() {
            Target::Wasm => (
                "wasmcustom.http_auth.users;user=alice",
                "http_auth_users_user_alice{} 1",
            ),
            Target::Native => (
                "wasmcustom.http_auth.users.user.alice",
                r#"envoy_wasmcustom_http_auth_users{user="alice"} 1"#,
            ),
        };
        assert_eq!(envoy.stat(users), Some(1), "{}", envoy.stats());
        envoy.assert_prometheus("", &[prometheus]);
        assert!(!envoy.log().contains("logged once"), "no metric error: {}", envoy.log());
    }

    fn a_service_that_is_down_fails_closed() {
        let (upstream, envoy) = serve_with(&Plugin::new("http_auth").config(CONFIG), None);
        let response = envoy
            .http1()
            .get(envoy.url("/"))
            .header("authorization", "Bearer good")
            .send()
            .unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.text().unwrap(), "auth service unavailable\n");
        assert!(upstream.requests().is_empty());
        assert!(
            envoy.wait_for_log("auth service: the call failed"),
            "{}",
            envoy.log()
        );
        assert_eq!(envoy.stat("wasmcustom.http_auth.failed"), Some(1));
    }

    fn a_slow_service_fails_closed_at_the_timeout() {
        let auth = auth_service();
        let (upstream, envoy) = serve_with(&Plugin::new("http_auth").config(CONFIG), Some(&auth));
        let (response, waited) = envoy.get_bearer_timed("/", "slow");
        assert_eq!(response.status(), 503);
        assert!(
            waited < Duration::from_millis(1500),
            "answered after {waited:?}, not at the 300 ms timeout"
        );
        assert!(upstream.requests().is_empty());
        // Envoy answers the call itself (504); the filter sees a typed timeout.
        assert!(
            envoy.wait_for_log("auth service: the call timed out"),
            "{}",
            envoy.log()
        );
    }

    fn an_unknown_cluster_fails_closed() {
        let config = r#"{"cluster": "no_such_cluster"}"#;
        let (upstream, envoy) = serve_with(&Plugin::new("http_auth").config(config), None);
        let response = envoy.http1().get(envoy.url("/")).send().unwrap();
        assert_eq!(response.status(), 503);
        assert!(upstream.requests().is_empty());
        assert!(
            envoy.wait_for_log("cannot call the auth service"),
            "{}",
            envoy.log()
        );
    }

    /// A cluster with no endpoints: Envoy ends the call inside the call that starts it
    /// (natively the callout is refused then; on Wasm Envoy answers it 503). Either way the
    /// request is answered at once, not held until a timeout.
    fn a_cluster_without_endpoints_fails_closed_at_once() {
        let config = r#"{"cluster": "no_endpoints", "timeout_ms": 10000}"#;
        let (upstream, envoy) = serve_with(&Plugin::new("http_auth").config(config), None);
        let (response, waited) = envoy.get_bearer_timed("/", "good");
        assert!(waited < Duration::from_secs(5), "lost until a timeout: {waited:?}");
        assert_eq!((response.status().as_u16(), upstream.requests().len()), (503, 0));
        assert_eq!(response.text().unwrap(), "auth service unavailable\n");
    }

    fn the_examples_own_envoy_yaml_calls_its_auth_cluster() {
        let auth = Upstream::start_with(|_| Reply::status(200).header("x-user", "bob"));
        let upstream = Upstream::start();
        let envoy = envoy_tests::Envoy::start_example_with_service("http_auth", &upstream, Some(&auth))
            .unwrap_or_else(|exited| {
                panic!(
                    "examples/http_auth/envoy.yaml did not start:\n{}",
                    exited.log
                )
            });
        let response = envoy.http1().get(envoy.url("/")).send().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            upstream.last_request().unwrap().header("x-user"),
            Some("bob")
        );
        assert_eq!(auth.requests().len(), 1);
    }
}
