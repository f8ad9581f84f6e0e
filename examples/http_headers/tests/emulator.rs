//! http_headers on the emulator: the rules, the 400, and every way a configuration is refused.

use envoy_wasm_sdk::testing::{Emulator, Request, Response, emulator_test};
use http_headers::register_plugin;

/// The rules every http_headers test uses (one file, shared with the other test suites).
const RULES: &str = include_str!("rules.json");

fn with(config: &str) -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(config).unwrap_or_else(|e| panic!("{e}"));
    envoy
}

#[emulator_test]
fn request_rules_run_in_order() {
    let envoy = with(RULES);
    let exchange = envoy.send(
        Request::get("/api")
            .header("x-api-key", "k")
            .header("x-internal", "1")
            .header("x-env", "dev")
            .header("x-tag", "from-client"),
    );
    let upstream = exchange.upstream();
    assert_eq!(upstream.header("x-api-key"), None);
    assert_eq!(upstream.header("x-internal"), None);
    assert_eq!(upstream.header_all("x-env"), ["prod"]);
    assert_eq!(upstream.header_all("x-tag"), ["from-client", "from-filter"]);
}

#[emulator_test]
fn response_rules_apply_to_the_upstream_response() {
    let envoy = with(RULES);
    let exchange = envoy.send_with(
        Request::get("/").header("x-api-key", "k"),
        Response::ok()
            .header("x-upstream", "echo")
            .header("x-frame-options", "SAMEORIGIN"),
    );
    let response = exchange.response();
    assert_eq!(response.header("x-upstream"), None);
    assert_eq!(response.header_all("x-frame-options"), ["DENY"]);
    assert_eq!(response.header_all("x-tag"), ["one", "two"]);
}

#[emulator_test]
fn a_missing_required_header_is_answered_400() {
    let envoy = with(RULES);
    let exchange = envoy.send(Request::get("/api"));
    assert!(!exchange.reached_upstream());
    let response = exchange.response();
    assert_eq!(response.status(), Some(400));
    assert_eq!(response.body_text(), "missing required header x-api-key\n");
    assert_eq!(
        response.header("x-frame-options"),
        Some("DENY"),
        "response rules run on the reply too"
    );
    assert!(envoy.logged("missing required header x-api-key (answering 400)"));
}

#[emulator_test]
fn the_header_name_is_matched_without_regard_to_case() {
    let envoy = with(RULES);
    let exchange = envoy.send(Request::get("/").header("X-API-KEY", "k"));
    assert!(exchange.reached_upstream());
}

#[emulator_test]
fn an_empty_configuration_is_refused() {
    let envoy = Emulator::new(register_plugin);
    let failed = envoy.configure("").expect_err("must be refused");
    assert!(failed.to_string().contains("no configuration"), "{failed}");
}

#[emulator_test]
fn no_rules_are_refused() {
    let envoy = Emulator::new(register_plugin);
    let failed = envoy.configure("{}").expect_err("must be refused");
    assert_eq!(failed.field_path(), Some("request"), "{failed}");
}

/// The configuration is refused, and the log names `field` and says `reason`.
fn refused(config: &str, field: &str, reason: &str) {
    let envoy = Emulator::new(register_plugin);
    let failed = envoy.configure(config).expect_err("must be refused");
    assert_eq!(failed.field_path(), Some(field), "{failed}");
    let text = failed.to_string();
    assert!(text.contains(&format!("field `{field}`")), "{text}");
    assert!(text.contains(reason), "{text}");
}

#[emulator_test]
fn bad_configurations_are_refused_naming_the_field() {
    refused(r#"{"reqest": {}}"#, "reqest", "unknown field");
    refused(
        r#"{"request": {"set": [{"name": "x", "value": 1}]}}"#,
        "request.set[0].value",
        "expected a string",
    );
    refused(
        r#"{"request": {"add": [{"name": "x"}]}}"#,
        "request.add[0].value",
        "missing",
    );
    refused(
        r#"{"response": {"add": [{"name": "X Bad", "value": "v"}]}}"#,
        "response.add[0].name",
        "not a valid header name",
    );
    refused(
        r#"{"request": {"remove": [""]}}"#,
        "request.remove[0]",
        "not a valid header name",
    );
    refused(
        r#"{"request": {"set": [{"name": "x", "value": "a\nb"}]}}"#,
        "request.set[0].value",
        "control characters",
    );
    refused(
        r#"{"response": {"require": ["x"]}}"#,
        "response.require",
        "only requests",
    );
    refused(
        r#"{"request": {"require": "x-api-key"}}"#,
        "request.require",
        "expected a sequence",
    );
}

#[emulator_test]
fn malformed_json_is_refused() {
    let envoy = Emulator::new(register_plugin);
    let failed = envoy.configure(r#"{"request": "#).unwrap_err();
    assert!(
        failed.to_string().contains("invalid plugin configuration"),
        "{failed}"
    );
}

// Reads the configured plugin, which lives inside the VM on the wasm backend: native only.
#[test]
fn the_test_sees_the_plugin_as_configure_made_it() {
    let envoy = with(RULES);
    let plugin = envoy
        .plugin::<http_headers::HeaderRules>()
        .expect("configured");
    assert_eq!(plugin.config().request.require, ["x-api-key"]);
}
