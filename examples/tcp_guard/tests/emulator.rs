//! tcp_guard on the emulator: a connection's first bytes decide, bytes are counted both
//! ways, and each connection ends with one summary line.

use envoy_wasm_sdk::network::PeerType;
use envoy_wasm_sdk::testing::{Emulator, Request, emulator_test};
use tcp_guard::register_plugin;

const CONFIG: &str = r#"{
  "deny": [
    {"name": "plaintext_http", "prefixes": ["GET ", "POST ", "HEAD ", "PRI * HTTP/2"]},
    {"name": "tls_1_0", "hex_prefixes": ["160301"]}
  ]
}"#;

fn guard() -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(CONFIG).unwrap_or_else(|e| panic!("{e}"));
    envoy
}

#[emulator_test]
fn plaintext_http_is_closed_without_a_reply() {
    let envoy = guard();
    let mut connection = envoy.connect();
    connection.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(connection.closed(), Some(PeerType::Local));
    assert!(
        connection.upstream_received().is_empty(),
        "nothing reached the service"
    );
    assert!(
        connection.client_received().is_empty(),
        "nothing was answered"
    );
    assert_eq!(
        envoy.metric("tcp_guard.denied;rule=plaintext_http"),
        Some(1)
    );
    assert!(envoy.logged("127.0.0.1:40000: refused (plaintext_http): closing without a reply"));
    assert!(envoy.logged(
        "connection 127.0.0.1:40000: 0 bytes in, 0 bytes out, 0 ms, refused (plaintext_http)"
    ));
}

#[emulator_test]
fn first_bytes_are_held_until_they_decide() {
    let envoy = guard();
    // `PO` could still become `POST `: held, nothing forwarded.
    let mut held = envoy.connect();
    held.send(b"PO");
    assert!(held.upstream_received().is_empty());
    assert_eq!(held.closed(), None);
    held.send(b"ST /x HTTP/1.1\r\n");
    assert_eq!(held.closed(), Some(PeerType::Local));
    assert!(held.upstream_received().is_empty());
    drop(held);

    // `PONG` cannot: everything held goes on, and is counted once.
    let mut allowed = envoy.connect();
    allowed.send(b"PO");
    allowed.send(b"NG\n");
    assert_eq!(allowed.upstream_received(), b"PONG\n");
    assert_eq!(allowed.closed(), None);
    allowed.receive(b"ok\n");
    assert_eq!(allowed.client_received(), b"ok\n");
    allowed.finish();
    allowed.upstream_finishes();
    assert_eq!(allowed.closed(), Some(PeerType::Local));
    assert_eq!(envoy.metric("tcp_guard.bytes_in"), Some(5));
    assert_eq!(envoy.metric("tcp_guard.bytes_out"), Some(3));
    assert!(
        envoy.logged(
            "connection 127.0.0.1:40000: 5 bytes in, 3 bytes out, 0 ms, closed by the client"
        )
    );
}

#[emulator_test]
fn binary_prefixes_and_a_short_connection() {
    let envoy = guard();
    let mut tls_1_0 = envoy.connect();
    tls_1_0.send(&[0x16, 0x03, 0x01, 0x02, 0x00]);
    assert_eq!(tls_1_0.closed(), Some(PeerType::Local));
    drop(tls_1_0);
    let mut tls_1_2 = envoy.connect();
    tls_1_2.send(&[0x16, 0x03, 0x03, 0x02, 0x00]);
    assert_eq!(tls_1_2.upstream_received(), [0x16, 0x03, 0x03, 0x02, 0x00]);
    drop(tls_1_2);
    // A client that says less than a prefix and leaves is let through as it is.
    let mut short = envoy.connect();
    short.send(b"GE");
    short.finish();
    assert_eq!(short.upstream_received(), b"GE");
    assert_eq!(envoy.metric("tcp_guard.denied;rule=tls_1_0"), Some(1));
    assert_eq!(envoy.metric("tcp_guard.connections"), Some(3));
}

#[emulator_test]
fn time_and_a_client_reset_are_in_the_summary() {
    let envoy = guard();
    let mut connection = envoy.connect();
    connection.send(b"hello\n");
    envoy.advance(std::time::Duration::from_millis(1500));
    connection.reset_by_client();
    assert!(envoy.logged(
        "connection 127.0.0.1:40000: 6 bytes in, 0 bytes out, 1500 ms, reset by the client"
    ));
}

#[emulator_test]
fn bad_rules_are_refused_naming_the_field() {
    let cases = [
        (
            r#"{"deny": [{"name": "", "prefixes": ["x"]}]}"#,
            "deny[0].name",
        ),
        (r#"{"deny": [{"name": "a"}]}"#, "deny[0].prefixes"),
        (
            r#"{"deny": [{"name": "a", "prefixes": [""]}]}"#,
            "deny[0].prefixes[0]",
        ),
        (
            r#"{"deny": [{"name": "a", "hex_prefixes": ["16030"]}]}"#,
            "deny[0].hex_prefixes[0]",
        ),
        (
            r#"{"deny": [{"name": "a", "hex_prefixes": ["zz"]}]}"#,
            "deny[0].hex_prefixes[0]",
        ),
        (
            r#"{"deny": [{"name": "a", "prefix": ["x"]}]}"#,
            "deny[0].prefix",
        ),
    ];
    for (config, field) in cases {
        let envoy = Emulator::new(register_plugin);
        let failed = envoy.configure(config).expect_err(config);
        assert_eq!(failed.field_path(), Some(field), "{failed}");
    }
    let long = format!(
        r#"{{"deny": [{{"name": "a", "prefixes": ["{}"]}}]}}"#,
        "x".repeat(65)
    );
    let envoy = Emulator::new(register_plugin);
    let failed = envoy.configure(long).expect_err("a prefix over 64 bytes");
    assert!(
        failed.to_string().contains("is 65 bytes; at most 64"),
        "{failed}"
    );
}

#[emulator_test]
fn run_as_an_http_filter_it_says_it_filters_nothing() {
    let envoy = guard();
    // The module has no HTTP filter: Envoy calls nothing of it for the request but the
    // context's start and end, and the request goes on untouched.
    for _ in 0..2 {
        let exchange = envoy.send(Request::get("/"));
        assert_eq!(exchange.response().status(), Some(200));
    }
    let told: Vec<_> = envoy
        .logs()
        .into_iter()
        .filter(|line| line.message.contains("it filters nothing here"))
        .collect();
    assert_eq!(told.len(), 1, "said once: {told:?}");
}
