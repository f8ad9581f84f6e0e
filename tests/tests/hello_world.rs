//! `hello_world` in a real Envoy: the header it adds, what it logs, what the upstream sees.

use envoy_tests::{Envoy, Plugin, SeenRequest, Upstream, on_both_targets, serve};

fn start() -> (Upstream, Envoy) {
    serve(&Plugin::new("hello_world"))
}

on_both_targets! {
    fn adds_the_response_header_over_http1_and_http2() {
        let (upstream, envoy) = start();
        for (client, version) in [
            (envoy.http1(), reqwest::Version::HTTP_11),
            (envoy.http2(), reqwest::Version::HTTP_2),
        ] {
            let response = client.get(envoy.url("/greet?x=1")).send().unwrap();
            assert_eq!(response.version(), version);
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["x-hello"], "world");
            assert_eq!(response.headers()["x-upstream"], "echo");
            let seen: SeenRequest = response.json().unwrap();
            assert_eq!(seen.path, "/greet?x=1");
            assert_eq!(
                seen.header("x-hello"),
                None,
                "the header goes on the response only"
            );
        }
        assert_eq!(upstream.requests().len(), 2);
    }

    fn logs_the_plugin_start_and_each_request_with_its_request_id() {
        let (_upstream, envoy) = start();
        // Envoy names the plugin; the line itself does not repeat it.
        assert!(
            envoy.wait_for_log("hello_world hello_world: plugin hello_world started"),
            "{}",
            envoy.log()
        );
        envoy
            .http1()
            .post(envoy.url("/first"))
            .header("x-request-id", "req-first")
            .body("x")
            .send()
            .unwrap();
        envoy.http2().delete(envoy.url("/second")).send().unwrap();
        // A line logged for a stream starts with its request id: the client's, or Envoy's own.
        assert!(
            envoy.wait_for_log("hello_world hello_world: [req-first] POST /first"),
            "{}",
            envoy.log()
        );
        assert!(envoy.wait_for_log("] DELETE /second"), "{}", envoy.log());
        let line = envoy.log_line("] DELETE /second").unwrap_or_default();
        let id = line
            .split_once("hello_world hello_world: [")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(id, _)| id.to_owned())
            .unwrap_or_default();
        assert_eq!(id.len(), 36, "Envoy's generated id (a UUID): {line}");
    }

    fn passes_request_bodies_through_untouched() {
        let (upstream, envoy) = start();
        let body = "a".repeat(100_000);
        let response = envoy
            .http1()
            .put(envoy.url("/upload"))
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let seen = upstream.last_request().unwrap();
        assert_eq!(seen.method, "PUT");
        assert_eq!(seen.body, body);
    }

    fn the_examples_own_envoy_yaml_serves_traffic() {
        let upstream = Upstream::start();
        let envoy = Envoy::start_example("hello_world", &upstream).unwrap_or_else(|exited| {
            panic!(
                "examples/hello_world/envoy.yaml did not start:\n{}",
                exited.log
            )
        });
        let response = envoy.http1().get(envoy.url("/from-readme")).send().unwrap();
        assert_eq!(response.headers()["x-hello"], "world");
        assert_eq!(upstream.last_request().unwrap().path, "/from-readme");
    }
}
