//! http_body in a real Envoy: what the upstream receives, with its content-length.

use envoy_tests::{Plugin, on_both_targets, serve};
use serde_json::{Value, json};

const CONFIG: &str = r#"{"redact": ["password", "card.number"], "max_body_bytes": 65536}"#;

on_both_targets! {
    fn redacts_fields_and_keeps_content_length_right_over_http1_and_http2() {
        let (upstream, envoy) = serve(&Plugin::new("http_body").config(CONFIG));
        let body =
            json!({"user": "ann", "password": "hunter2", "card": {"number": "4111111111111111"}});
        for client in [envoy.http1(), envoy.http2()] {
            let response = client
                .post(envoy.url("/users"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .unwrap();
            assert_eq!(response.status(), 200);
            let seen = upstream.last_request().unwrap();
            let received: Value = serde_json::from_str(&seen.body).unwrap();
            assert_eq!(received["password"], "[redacted]");
            assert_eq!(received["card"]["number"], "[redacted]");
            assert_eq!(received["user"], "ann");
            if let Some(length) = seen.header("content-length") {
                assert_eq!(
                    length,
                    seen.body.len().to_string(),
                    "content-length matches the rewritten body"
                );
            }
        }
        let http1 = &upstream.requests()[0];
        assert_eq!(
            http1.header("content-length"),
            None,
            "the stale length was dropped"
        );
        assert_eq!(http1.header("transfer-encoding"), Some("chunked"));
    }

    fn a_large_body_arriving_in_many_chunks_is_rewritten_whole() {
        let (upstream, envoy) = serve(&Plugin::new("http_body").config(CONFIG));
        let body = json!({"password": "p", "pad": "x".repeat(60_000)});
        let response = envoy
            .http1()
            .post(envoy.url("/"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let received: Value = serde_json::from_str(&upstream.last_request().unwrap().body).unwrap();
        assert_eq!(received["password"], "[redacted]");
        assert_eq!(received["pad"].as_str().map(str::len), Some(60_000));
    }

    fn oversized_non_json_and_invalid_bodies_get_clear_replies() {
        let (upstream, envoy) = serve(&Plugin::new("http_body").config(CONFIG));
        let post = |content_type: &str, body: String| {
            envoy
                .http1()
                .post(envoy.url("/"))
                .header("content-type", content_type)
                .body(body)
                .send()
                .unwrap()
        };
        let big = post(
            "application/json",
            json!({"pad": "x".repeat(70_000)}).to_string(),
        );
        assert_eq!(big.status(), 413);
        assert_eq!(big.text().unwrap(), "body larger than 65536 bytes\n");
        let form = post("application/x-www-form-urlencoded", "a=b".into());
        assert_eq!(form.status(), 415);
        assert!(
            upstream.requests().is_empty(),
            "refused at the headers: the upstream was never contacted"
        );
        let broken = post("application/json", "{oops".into());
        assert_eq!(broken.status(), 400);
        assert!(
            broken
                .text()
                .unwrap()
                .starts_with("request body is not valid JSON")
        );
        // The headers had gone on, so Envoy had started the upstream request; the 400 reset it.
        assert!(
            upstream.requests().iter().all(|r| !r.complete),
            "{:?}",
            upstream.requests()
        );

        let get = envoy.http1().get(envoy.url("/plain")).send().unwrap();
        assert_eq!(get.status(), 200, "no body, nothing to do");
    }
}
