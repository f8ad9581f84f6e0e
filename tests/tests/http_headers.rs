//! `http_headers` in a real Envoy: rules as the upstream and the client see them, and
//! configurations Envoy must refuse, with a log that names the field.

use envoy_tests::{Envoy, Plugin, Target, Upstream, on_both_targets, serve};

/// The rules every http_headers test uses (one file, shared with the other test suites).
const RULES: &str = include_str!("../../examples/http_headers/tests/rules.json");

fn start(config: &str) -> (Upstream, Envoy) {
    serve(&Plugin::new("http_headers").config(config))
}

/// Envoy refuses `config`, and its log says the plugin rejected it naming `field`.
fn assert_rejected(config: &str, field: &str, reason: &str) {
    let upstream = Upstream::start();
    let exited = Envoy::start_rejected(&Plugin::new("http_headers").config(config), &upstream);
    let line = exited.rejection();
    assert!(line.contains(&format!("field `{field}`")), "{line}");
    assert!(line.contains(reason), "{line}");
    assert!(
        exited.log.contains(Target::current().refusal()),
        "{}",
        exited.log
    );
    assert!(upstream.requests().is_empty());
}

on_both_targets! {
    fn request_rules_change_what_the_upstream_receives() {
        let (upstream, envoy) = start(RULES);
        for client in [envoy.http1(), envoy.http2()] {
            let response = client
                .get(envoy.url("/api"))
                .header("x-api-key", "secret")
                .header("x-internal", "leak")
                .header("x-env", "dev")
                .header("x-tag", "from-client")
                .send()
                .unwrap();
            assert_eq!(response.status(), 200);
            let seen = upstream.last_request().unwrap();
            assert_eq!(seen.header("x-internal"), None);
            assert_eq!(seen.header("x-api-key"), None);
            assert_eq!(seen.header_all("x-env"), ["prod"]);
            assert_eq!(seen.header_all("x-tag"), ["from-client", "from-filter"]);
        }
    }

    fn response_rules_change_what_the_client_receives() {
        let (_upstream, envoy) = start(RULES);
        for client in [envoy.http1(), envoy.http2()] {
            let response = client
                .get(envoy.url("/"))
                .header("x-api-key", "k")
                .send()
                .unwrap();
            assert_eq!(response.status(), 200);
            let headers = response.headers();
            assert!(headers.get("x-upstream").is_none(), "removed: {headers:?}");
            assert_eq!(headers["x-frame-options"], "DENY");
            let tags: Vec<_> = headers
                .get_all("x-tag")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert_eq!(tags, ["one", "two"]);
            assert_eq!(headers["server"], "envoy", "Envoy still rewrites server");
        }
    }

    fn a_missing_required_header_is_answered_400_without_reaching_upstream() {
        let (upstream, envoy) = start(RULES);
        let response = envoy.http2().get(envoy.url("/api")).send().unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.text().unwrap(),
            "missing required header x-api-key\n"
        );
        assert!(upstream.requests().is_empty());
        assert!(
            envoy.wait_for_log("missing required header x-api-key (answering 400)"),
            "{}",
            envoy.log()
        );
    }

    fn one_rule_changes_only_that() {
        let (upstream, envoy) = start(r#"{"response": {"add": [{"name": "x-added", "value": "1"}]}}"#);
        let response = envoy
            .http1()
            .get(envoy.url("/"))
            .header("x-keep", "1")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-upstream"], "echo");
        assert_eq!(response.headers()["x-added"], "1");
        assert_eq!(upstream.last_request().unwrap().header("x-keep"), Some("1"));
    }

    fn an_empty_configuration_is_refused() {
        let upstream = Upstream::start();
        let exited = Envoy::start_rejected(&Plugin::new("http_headers").config(""), &upstream);
        assert!(exited.rejection().contains("no configuration"), "{}", exited.log);
    }

    fn a_value_of_the_wrong_type_is_rejected_naming_the_field() {
        assert_rejected(
            r#"{"request": {"set": [{"name": "x-a", "value": "1"}, {"name": "x-b", "value": 2}]}}"#,
            "request.set[1].value",
            "expected a string",
        );
    }

    fn a_misspelled_field_is_rejected_naming_it() {
        assert_rejected(r#"{"reqest": {}}"#, "reqest", "unknown field");
    }

    fn an_invalid_header_name_is_rejected_naming_the_field() {
        assert_rejected(
            r#"{"response": {"add": [{"name": "X Bad", "value": "v"}]}}"#,
            "response.add[0].name",
            "not a valid header name",
        );
    }

    fn the_examples_own_envoy_yaml_applies_its_rules() {
        let upstream = Upstream::start();
        let envoy = Envoy::start_example("http_headers", &upstream).unwrap_or_else(|exited| {
            panic!(
                "examples/http_headers/envoy.yaml did not start:\n{}",
                exited.log
            )
        });
        let response = envoy
            .http1()
            .get(envoy.url("/"))
            .header("x-api-key", "k")
            .header("x-internal", "1")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let seen = upstream.last_request().unwrap();
        assert_eq!(seen.header("x-env"), Some("prod"));
        assert_eq!(seen.header("x-internal"), None);
        let rejected = envoy.http1().get(envoy.url("/")).send().unwrap();
        assert_eq!(rejected.status(), 400);
    }
}
