//! Several configurations of one module in one VM, on the emulator (natively and on the
//! `.wasm`): each stream and connection runs with the plugin context it was created under.
//! `tests/tests/topology.rs` checks the same in a real Envoy.

use binding::register_plugin;
use envoy_wasm_sdk::testing::{Emulator, PluginId, Request, Response, emulator_test};
use std::time::Duration;

fn tag_of(envoy: &Emulator, plugin: PluginId) -> Vec<String> {
    let exchange = envoy.send_to(plugin, Request::get("/"), Response::ok());
    assert_eq!(
        exchange.upstream().header("x-request-tag"),
        exchange.response().header("x-tag")
    );
    exchange
        .response()
        .header_all("x-tag")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Adds plugin `name` under `root_id`, configured with `{"tag": "<tag>"}`.
fn add_tagged(envoy: &Emulator, name: &str, root_id: &str, tag: &str) -> PluginId {
    let configuration = format!(r#"{{"tag": "{tag}"}}"#);
    envoy
        .add_plugin_with_root_id(name, root_id, configuration)
        .unwrap()
}

/// Two configurations under `root_ids`, each serving its own streams, in either order.
fn two_plugins(root_ids: [&str; 2]) {
    let envoy = Emulator::new(register_plugin);
    let a = add_tagged(&envoy, "mesh.default", root_ids[0], "a");
    let b = add_tagged(&envoy, "ns.override", root_ids[1], "b");
    for _ in 0..2 {
        assert_eq!(tag_of(&envoy, b), ["b"]);
        assert_eq!(tag_of(&envoy, a), ["a"]);
    }
}

#[emulator_test]
fn two_configurations_with_the_same_root_id_serve_their_own_streams() {
    two_plugins(["binding", "binding"]);
}

#[emulator_test]
fn two_configurations_with_different_or_no_root_ids_serve_their_own_streams() {
    two_plugins(["first", "second"]);
    two_plugins(["", ""]);
}

#[emulator_test]
fn the_plugin_knows_its_name_root_id_and_context() {
    let envoy = Emulator::new(register_plugin);
    add_tagged(&envoy, "shop.tags", "binding", "t");
    assert!(
        envoy.logged(r#"configured tag t as plugin "shop.tags" (root id "binding", context "#),
        "{:?}",
        envoy.logs()
    );
}

#[emulator_test]
fn an_http_and_a_network_plugin_in_one_vm_serve_their_own() {
    let envoy = Emulator::new(register_plugin);
    let http = add_tagged(&envoy, "web", "binding", "http");
    let tcp = add_tagged(&envoy, "raw", "binding", "tcp");
    let mut connection = envoy.connect_to(tcp);
    connection.send(b"hello");
    assert_eq!(connection.upstream_received(), b"tcp:hello");
    assert_eq!(tag_of(&envoy, http), ["http"]);
}

#[emulator_test]
fn a_declined_stream_or_connection_runs_no_filter() {
    let envoy = Emulator::new(register_plugin);
    let no = envoy
        .add_plugin("declines", r#"{"tag": "no", "decline": true}"#)
        .unwrap();
    let exchange = envoy.send_to(no, Request::get("/"), Response::ok());
    assert_eq!(exchange.upstream().header("x-request-tag"), None);
    assert_eq!(exchange.response().header("x-tag"), None);
    assert!(envoy.logged("declined stream"));
    let mut connection = envoy.connect_to(no);
    connection.send(b"plain");
    assert_eq!(connection.upstream_received(), b"plain");
}

#[emulator_test]
fn the_plugin_calls_out_from_a_timer_and_its_filters_use_the_answer() {
    let envoy = Emulator::new(register_plugin);
    let config = r#"{"tag": "k", "refresh": {"cluster": "keys", "path": "/keys"}}"#;
    envoy.configure(config).unwrap();
    envoy.advance(Duration::from_millis(5));
    let calls = envoy.http_calls();
    assert_eq!(calls.len(), 1, "the timer called out");
    assert_eq!(calls[0].upstream, "keys");
    envoy.respond_http_call(
        calls[0].token,
        Response::new(200).header("x-seen-path", "/keys"),
    );
    assert!(envoy.logged("callout response k in plugin test_plugin: 200 /keys"));
    let exchange = envoy.send(Request::get("/"));
    assert_eq!(exchange.response().header("x-refreshed"), Some("200 /keys"));
}

#[emulator_test]
fn the_vm_start_hook_reads_the_vm_configuration() {
    let envoy = Emulator::new(register_plugin);
    envoy.set_vm_configuration(r#"{"greeting": "hi"}"#);
    envoy.configure(r#"{"tag": "v"}"#).unwrap();
    assert_eq!(
        envoy.send(Request::get("/")).response().header("x-vm"),
        Some("hi")
    );
    drop(envoy);
    let envoy = Emulator::new(register_plugin);
    envoy.set_vm_configuration(r#"{"greeting": 7}"#);
    let refused = envoy.configure(r#"{"tag": "v"}"#).unwrap_err();
    assert_eq!(refused.field_path(), Some("greeting"), "{refused}");
}

#[emulator_test]
fn each_phase_logs_with_the_request_id_read_once() {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(r#"{"tag": "log"}"#).unwrap();
    envoy.send(Request::get("/").header("x-request-id", "req-7"));
    for line in [
        "request headers log",
        "response headers log",
        "stream done log",
    ] {
        assert!(
            envoy.logged(&format!("[req-7] {line}")),
            "{line}: {:?}",
            envoy.logs()
        );
    }
    let reads = envoy
        .properties_read()
        .iter()
        .filter(|path| path.as_str() == "request.id")
        .count();
    assert_eq!(
        reads,
        1,
        "read once per stream: {:?}",
        envoy.properties_read()
    );
}
