//! tcp_guard in a real Envoy, from the example's own envoy.yaml, in front of a real TCP
//! echo service: plaintext HTTP on the guarded port gets nothing and is closed, other
//! connections go through and are counted, and each ends with a summary line.

use envoy_tests::{Envoy, TcpClient, TcpEcho, with_free_listener};
use std::time::{Duration, Instant};

fn start() -> (TcpEcho, Envoy) {
    let service = TcpEcho::start();
    let dir = envoy_tests::project_root().join("examples/tcp_guard");
    envoy_tests::wasm_path("tcp_guard");
    // The listener and admin on free ports; the service is the TCP echo, not HTTP.
    let config = std::fs::read_to_string(dir.join("envoy.yaml"))
        .unwrap()
        .replace(
            "port_value: 8080",
            &format!("port_value: {}", service.port()),
        );
    let config = with_free_listener(&config);
    let envoy = Envoy::start_config(&config, &dir)
        .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
    (service, envoy)
}

fn wait_for_log(envoy: &Envoy, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if envoy.log().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn plaintext_http_gets_nothing_and_is_closed() {
    let (service, envoy) = start();
    let mut client = TcpClient::connect(envoy.port());
    client.send(b"GET / HTTP/1.1\r\nhost: guarded.example\r\n\r\n");
    assert!(client.read(usize::MAX).is_empty(), "no reply at all");
    assert!(client.is_closed_by_peer(), "Envoy closed the connection");
    assert!(wait_for_log(
        &envoy,
        "refused (plaintext_http): closing without a reply"
    ));
    assert!(wait_for_log(&envoy, "0 bytes in, 0 bytes out"));
    assert!(
        service.received().iter().all(Vec::is_empty),
        "the service saw no byte: {:?}",
        service.received()
    );
    let prometheus = envoy.prometheus();
    assert!(
        prometheus.contains(r#"tcp_guard_denied{rule="plaintext_http"} 1"#),
        "{prometheus}"
    );
}

#[test]
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
    assert!(wait_for_log(&envoy, "bytes in, 5 bytes out"));
    let line = envoy
        .log()
        .lines()
        .find(|line| line.contains("5 bytes out"))
        .map(str::to_owned)
        .unwrap();
    assert!(
        line.contains(": 5 bytes in, 5 bytes out, ") && line.ends_with("closed by the client"),
        "{line}"
    );
    assert_eq!(service.received(), [b"PONG\n".to_vec()]);
    assert_eq!(envoy.stat("wasmcustom.tcp_guard.bytes_in"), Some(5));
    assert_eq!(envoy.stat("wasmcustom.tcp_guard.bytes_out"), Some(5));
    assert_eq!(envoy.stat("wasmcustom.tcp_guard.connections"), Some(1));
}
