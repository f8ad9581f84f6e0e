//! tcp_guard in a real Envoy, from the example's own envoy.yaml (envoy-native.yaml on the
//! native target: the same filter as a dynamic-module network filter), in front of a real
//! TCP echo service: plaintext HTTP on the guarded port gets nothing and is closed, other
//! connections go through and are counted, and each ends with a summary line.

use envoy_tests::{
    Envoy, Exited, Plugin, Target, TcpClient, TcpEcho, Upstream, with_free_listener,
};
use std::time::Duration;

fn start() -> (TcpEcho, Envoy) {
    let service = TcpEcho::start();
    // envoy.yaml or envoy-native.yaml, the module built first.
    let (dir, config) = envoy_tests::example_config("tcp_guard");
    // The listener and admin on free ports; the service is the TCP echo, not HTTP.
    let config = config.replace(
        "port_value: 8080",
        &format!("port_value: {}", service.port()),
    );
    let config = with_free_listener(&config);
    let envoy = Envoy::start_config(&config, &dir)
        .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
    (service, envoy)
}

envoy_tests::on_both_targets! {
    fn plaintext_http_gets_nothing_and_is_closed() {
        let (service, envoy) = start();
        let mut client = TcpClient::connect(envoy.port());
        client.send(b"GET / HTTP/1.1\r\nhost: guarded.example\r\n\r\n");
        assert!(client.read(usize::MAX).is_empty(), "no reply at all");
        assert!(client.is_closed_by_peer(), "Envoy closed the connection");
        assert!(envoy.wait_for_log("refused (plaintext_http): closing without a reply"));
        assert!(envoy.wait_for_log("0 bytes in, 0 bytes out"));
        assert!(
            service.received().iter().all(Vec::is_empty),
            "the service saw no byte: {:?}",
            service.received()
        );
        // `tcp_guard_denied` on Wasm, `envoy_wasmcustom_tcp_guard_denied` natively.
        let prometheus = envoy.prometheus();
        assert!(
            prometheus.contains(r#"tcp_guard_denied{rule="plaintext_http"} 1"#),
            "{prometheus}"
        );
    }

    fn other_connections_go_through_counted() {
        let (service, envoy) = start();
        let mut client = TcpClient::connect(envoy.port());
        client.send(b"PO");
        std::thread::sleep(Duration::from_millis(100));
        // Held while it could still become `POST `.
        assert!(service.received().iter().all(Vec::is_empty));
        client.send(b"NG\n");
        assert_eq!(client.read(5), b"PONG\n");
        client.finish();
        assert!(client.is_closed_by_peer());
        assert!(envoy.wait_for_log("bytes in, 5 bytes out"));
        let line = envoy.log_line("5 bytes out").unwrap();
        assert!(
            line.contains(": 5 bytes in, 5 bytes out, ") && line.ends_with("closed by the client"),
            "{line}"
        );
        assert_eq!(service.received(), [b"PONG\n".to_vec()]);
        assert_eq!(envoy.stat("wasmcustom.tcp_guard.bytes_in"), Some(5));
        assert_eq!(envoy.stat("wasmcustom.tcp_guard.bytes_out"), Some(5));
        assert_eq!(envoy.stat("wasmcustom.tcp_guard.connections"), Some(1));
    }
}

#[test]
fn run_as_an_http_filter_it_says_it_filters_nothing() {
    let (upstream, envoy) = envoy_tests::serve(
        &envoy_tests::Plugin::new("tcp_guard").config(
            std::fs::read_to_string(
                envoy_tests::project_root().join("examples/tcp_guard/deploy/config.json"),
            )
            .unwrap(),
        ),
    );
    let response = envoy.http1().get(envoy.url("/")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.requests().len(), 1);
    assert!(
        envoy.wait_for_log("it filters nothing here"),
        "{}",
        envoy.log()
    );
}

/// On the native target a network-only plugin configured as an HTTP filter (Envoy's
/// dynamic-module HTTP filter) is refused at load, saying why, before its `configure`
/// runs (a configuration it would refuse itself is not even read), and no request reaches
/// the upstream.
#[test]
fn as_a_native_http_filter_it_is_refused_at_load() {
    Target::Native.run(|| {
        let upstream = Upstream::start();
        let config = std::fs::read_to_string(
            envoy_tests::project_root().join("examples/tcp_guard/deploy/config.json"),
        )
        .unwrap();
        for config in [config.as_str(), r#"{"not_a_field": 1}"#] {
            let plugin = Plugin::new("tcp_guard").config(config);
            let exited = Envoy::start_rejected(&plugin, &upstream);
            assert_refused_for_its_kind(&exited, "this plugin has a network filter only");
        }
        assert!(upstream.requests().is_empty());
    });
}

/// And the other way round: a plugin without a network filter configured as a native
/// network filter is refused at load, saying why, before its `configure` runs.
#[test]
fn an_http_plugin_as_a_native_network_filter_is_refused_at_load() {
    Target::Native.run(|| {
        let upstream = Upstream::start();
        let plugin = Plugin::new("http_headers").config(r#"{"not_a_field": 1}"#);
        let exited = match Envoy::start_tcp(&plugin, upstream.port()) {
            Ok(envoy) => panic!("Envoy accepted it:\n{}", envoy.log()),
            Err(exited) => exited,
        };
        assert_refused_for_its_kind(&exited, "this plugin has no network filter");
    });
}

/// Envoy refused the configuration because the plugin has no filter of the kind it was
/// configured as (`why`), before the plugin's `configure` could refuse it.
fn assert_refused_for_its_kind(exited: &Exited, why: &str) {
    assert!(exited.log.contains(why), "{}", exited.log);
    assert!(
        !exited.log.contains("invalid plugin configuration"),
        "configure ran: {}",
        exited.log
    );
}
