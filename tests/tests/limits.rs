//! Configurations at the edges users hit, in a real Envoy and on the emulator: a
//! configuration of several MiB is taken; a deeply nested one is refused with a clear
//! reason, never a stack overflow or a trap (the typed parser stops at the first level that
//! does not fit the type, so nesting never recurses far).

use envoy_tests::{Envoy, Plugin, Upstream, serve};
use envoy_wasm_sdk::testing::{Emulator, Request};

/// http_routing with `rules` never matching plus the default: about 4 MiB of JSON.
fn large_routing_config() -> String {
    let rules: Vec<String> = (0..40_000)
        .map(|i| {
            format!(
                r#"{{"match": {{"route": "never-{i:05}", "authority": "never-{i:05}.example.com"}}, "config": {{"tag": "rule-{i:05}"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"default": {{"tag": "default"}}, "rules": [{}]}}"#,
        rules.join(",")
    )
}

/// http_headers with a `set` list nested 10,000 arrays deep.
fn deeply_nested_config() -> String {
    let depth = 10_000;
    format!(
        r#"{{"request": {{"set": {}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[test]
fn a_configuration_of_several_mib_is_taken_in_envoy_and_on_the_emulator() {
    let config = large_routing_config();
    assert!(config.len() > 4 << 20, "{} bytes", config.len());

    let emulator = Emulator::new(http_routing::register_plugin);
    emulator.configure(&config).unwrap();
    let exchange = emulator.send(Request::get("/"));
    assert_eq!(
        exchange.upstream().header("x-routing-rule"),
        Some("default")
    );
    drop(emulator);

    let (_upstream, envoy) = serve(&Plugin::new("http_routing").config(config));
    let response = envoy.http1().get(envoy.url("/")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-routing-rule"], "default");
}

#[test]
fn a_deeply_nested_configuration_is_refused_with_a_reason() {
    let config = deeply_nested_config();

    let reason = "field `request.set[0][0]`: invalid type: sequence, expected a string";
    let refused = Emulator::new(http_headers::register_plugin)
        .configure(&config)
        .unwrap_err();
    assert!(refused.to_string().contains(reason), "{refused}");

    let upstream = Upstream::start();
    let exited = Envoy::start_rejected(&Plugin::new("http_headers").config(config), &upstream);
    assert!(
        exited.status.is_some_and(|s| !s.success()),
        "{:?}",
        exited.status
    );
    let line = exited
        .log
        .lines()
        .find(|line| line.contains("invalid plugin configuration"))
        .unwrap_or_else(|| panic!("no rejection logged:\n{}", exited.log));
    assert!(line.contains(reason), "{line}");
    assert!(!exited.log.contains("panicked"), "{}", exited.log);
}
