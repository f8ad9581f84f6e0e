//! Every example with an empty (`""`), empty-object (`{}`) or `null` configuration, in a
//! real Envoy: a filter that gates or changes traffic refuses to load, naming the field (or
//! saying there is no configuration), so it never runs unconfigured and lets everything
//! through. On both targets where the example has both; the plugin-service examples as Wasm.

use envoy_tests::{Envoy, Exited, Plugin, Target, Upstream, on_both_targets};

/// How Envoy must answer `example` configured with `config`: refused with `reason` in the
/// rejection line.
fn refused(example: &str, config: &str, reason: &str) -> Exited {
    let upstream = Upstream::start();
    let plugin = Plugin::new(example).config(config);
    let exited = if example == "tcp_guard" {
        match Envoy::start_tcp(&plugin, upstream.port()) {
            Ok(envoy) => panic!("Envoy accepted {config:?}:\n{}", envoy.log()),
            Err(exited) => exited,
        }
    } else {
        Envoy::start_rejected(&plugin, &upstream)
    };
    assert!(
        exited.rejection().contains(reason),
        "{example} with {config:?}: {}",
        exited.log
    );
    assert!(upstream.requests().is_empty());
    exited
}

/// Each example, and what its `{}` is refused for (`""` and `null` are "no configuration").
const EXAMPLES: &[(&str, &str)] = &[
    ("http_headers", "field `request`: no rules"),
    ("http_body", "field `redact`: missing"),
    ("http_routing", "field `default.tag`: must not be empty"),
    ("http_auth", "field `cluster`: missing"),
    ("key_auth", "field `consumers`: missing"),
    ("tcp_guard", "field `deny`: missing"),
    ("rate_limit", "field `capacity`: missing"),
];

/// Wasm only: the native target has no plugin services yet.
const WASM_ONLY: &[(&str, &str)] = &[
    ("grpc_auth", "field `cluster`: missing"),
    ("grpc_access_log", "field `cluster`: missing"),
];

fn check(examples: &[(&str, &str)]) {
    for (example, empty_object) in examples {
        refused(
            example,
            "",
            "no configuration: this plugin needs one (the configuration is empty)",
        );
        refused(
            example,
            "null",
            "no configuration: this plugin needs one (the configuration is null)",
        );
        refused(example, "{}", empty_object);
    }
}

on_both_targets! {
    fn an_empty_configuration_is_refused_by_every_example() {
        check(EXAMPLES);
    }
}

#[test]
fn an_empty_configuration_is_refused_by_the_wasm_only_examples() {
    assert_eq!(Target::current(), Target::Wasm);
    check(WASM_ONLY);
}

/// hello_world takes no configuration and gates nothing: `""`, `{}` and `null` all mean
/// "none", and anything else is refused.
#[test]
fn hello_world_takes_none_and_nothing_else() {
    for none in ["", "{}", "null"] {
        let upstream = Upstream::start();
        let envoy = Envoy::start(&Plugin::new("hello_world").config(none), &upstream)
            .unwrap_or_else(|exited| panic!("{none:?}: {}", exited.log));
        drop(envoy);
    }
    refused(
        "hello_world",
        r#"{"greeting": "hi"}"#,
        "this plugin takes no configuration",
    );
}
