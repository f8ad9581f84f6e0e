//! http_routing on the emulator, with Envoy's routing scripted.

use envoy_wasm_sdk::testing::{Emulator, Request, emulator_test};
use http_routing::register_plugin;

const CONFIG: &str = r#"{
  "default": {"tag": "default"},
  "rules": [
    {"match": {"route": "to_v2"}, "config": {"tag": "v2", "expose": true}},
    {"match": {"authority": "*.internal"}, "config": {"tag": "internal", "version_header": "x-version", "expose": true}}
  ]
}"#;

fn routing() -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(CONFIG).unwrap_or_else(|e| panic!("{e}"));
    // Like envoy/http_filter.yaml: /v2/ goes to `service`, the rest to `upstream`.
    envoy.set_path_router(|path| {
        if path.starts_with(b"/v2/") {
            ("to_v2".into(), "service".into())
        } else {
            ("to_upstream".into(), "upstream".into())
        }
    });
    envoy
}

#[emulator_test]
fn the_rule_follows_the_route_and_the_authority() {
    let envoy = routing();
    let plain = envoy.send(Request::get("/a").header(":authority", "shop.example.com"));
    assert_eq!(plain.upstream().header("x-routing-rule"), Some("default"));
    assert_eq!(
        plain.response().header("x-routing-route"),
        None,
        "default does not expose"
    );
    let v2 = envoy.send(Request::get("/v2/a"));
    assert_eq!(v2.upstream().header("x-routing-rule"), Some("v2"));
    assert_eq!(v2.response().header("x-routing-cluster"), Some("service"));
    let internal = envoy.send(Request::get("/a").header(":authority", "billing.internal:8080"));
    assert_eq!(
        internal.upstream().header("x-routing-rule"),
        Some("internal")
    );
}

#[emulator_test]
fn a_version_header_moves_the_request_and_routes_it_again() {
    let envoy = routing();
    let exchange = envoy.send(
        Request::get("/orders")
            .header(":authority", "billing.internal")
            .header("x-version", "v2"),
    );
    assert_eq!(exchange.upstream().header(":path"), Some("/v2/orders"));
    assert_eq!(envoy.route_cache_clears(), 1);
    let response = exchange.response();
    assert_eq!(
        response.header("x-routing-route"),
        Some("to_v2"),
        "routed again after the rewrite"
    );
    assert_eq!(response.header("x-routing-cluster"), Some("service"));
    assert_eq!(response.header("x-routing-filter-state"), Some("v2"));
    let untouched = envoy.send(Request::get("/orders").header(":authority", "billing.internal"));
    assert_eq!(untouched.upstream().header(":path"), Some("/orders"));
    assert_eq!(envoy.route_cache_clears(), 1);
}

#[emulator_test]
fn bad_rules_are_refused_naming_the_field() {
    for (config, field) in [
        (r#"{"default": {"tag": ""}}"#, "field `default.tag`"),
        (
            r#"{"default": {"tag": "d"}, "rules": [{"match": {}, "config": {"tag": "x"}}]}"#,
            "field `rules[0].match`",
        ),
        (
            r#"{"default": {"tag": "d"}, "rules": [{"match": {"route": "r"}, "config": {"tag": "x", "version_header": "X"}}]}"#,
            "field `rules[0].config.version_header`",
        ),
        (r#"{"default": {"tag": "d"}, "rulez": []}"#, "field `rulez`"),
    ] {
        let envoy = Emulator::new(register_plugin);
        let failed = envoy.configure(config).unwrap_err();
        assert!(failed.to_string().contains(field), "{config}: {failed}");
    }
}

#[emulator_test]
fn the_request_age_is_read_from_the_hosts_clock() {
    let envoy = routing();
    let mut stream = envoy.stream();
    stream.request_headers(
        &[
            (":method", "GET"),
            (":path", "/v2/a"),
            (":authority", "shop"),
        ],
        true,
    );
    // The emulator's clock moves only when told; a filter reading the std clock would see
    // (almost) no time pass here.
    envoy.advance(std::time::Duration::from_millis(250));
    stream.response_headers(&[(":status", "200")], true);
    let response = stream.downstream_response().expect("response sent");
    assert_eq!(response.header("x-routing-request-age-ms"), Some("250"));
}
