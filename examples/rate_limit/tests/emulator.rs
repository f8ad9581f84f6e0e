//! rate_limit on the emulator: buckets, refill on the host's clock, another worker writing
//! the bucket in between, the collector service, and configurations it refuses.

use envoy_wasm_sdk::testing::{Emulator, Request, emulator_test};
use rate_limit::register_plugin;
use std::time::Duration;

const CONFIG: &str = r#"{"capacity": 3, "refill_per_second": 2.0, "client_header": "x-client"}"#;

fn limiter(config: &str) -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(config).unwrap_or_else(|e| panic!("{e}"));
    envoy
}

/// The status and `x-ratelimit-remaining` of one request from `client`.
fn ask(envoy: &Emulator, client: &str) -> (u16, String) {
    let exchange = envoy.send(Request::get("/").header("x-client", client));
    let response = exchange.response();
    let remaining = response.header("x-ratelimit-remaining").unwrap_or("-");
    (response.status().unwrap_or(0), remaining.to_owned())
}

#[emulator_test]
fn a_burst_drains_the_bucket_then_429_says_when_to_retry() {
    let envoy = limiter(CONFIG);
    let seen: Vec<(u16, String)> = (0..5).map(|_| ask(&envoy, "alice")).collect();
    let expected = [(200, "2"), (200, "1"), (200, "0"), (429, "0"), (429, "0")];
    let expected: Vec<(u16, String)> = expected.iter().map(|(s, r)| (*s, r.to_string())).collect();
    assert_eq!(seen, expected);
    let limited = envoy.send(Request::get("/").header("x-client", "alice"));
    assert!(!limited.reached_upstream());
    assert_eq!(limited.response().header("retry-after"), Some("1"));
    assert_eq!(limited.response().body_text(), "rate limited\n");
    // Another client has its own bucket.
    assert_eq!(ask(&envoy, "bob"), (200, "2".into()));
    assert_eq!(
        envoy.metric("rate_limit.requests;client=alice;outcome=allowed"),
        Some(3)
    );
    assert_eq!(
        envoy.metric("rate_limit.requests;client=alice;outcome=limited"),
        Some(3)
    );
}

#[emulator_test]
fn tokens_come_back_on_the_hosts_clock() {
    let envoy = limiter(CONFIG);
    for _ in 0..3 {
        ask(&envoy, "alice");
    }
    assert_eq!(ask(&envoy, "alice").0, 429);
    envoy.advance(Duration::from_millis(499));
    assert_eq!(ask(&envoy, "alice").0, 429, "half a token is not a token");
    envoy.advance(Duration::from_millis(1));
    assert_eq!(ask(&envoy, "alice"), (200, "0".into()));
    envoy.advance(Duration::from_secs(10));
    assert_eq!(
        ask(&envoy, "alice"),
        (200, "2".into()),
        "never above capacity"
    );
}

#[emulator_test]
fn another_workers_draw_between_read_and_write_is_counted() {
    let envoy = limiter(CONFIG);
    ask(&envoy, "alice"); // 2 tokens left
    let (stored, _) = envoy.shared_data("rate_limit.bucket.alice").unwrap();
    let stored = String::from_utf8(stored).unwrap();
    // Another worker takes the last two tokens after this worker read the bucket: the
    // compare-and-swap write fails, the update reads again and finds nothing left.
    let drained = stored.replace("\"tokens\":2.0", "\"tokens\":0.0");
    assert_ne!(drained, stored, "{stored}");
    envoy.interfere_with_shared_data("rate_limit.bucket.alice", drained, 1);
    assert_eq!(ask(&envoy, "alice").0, 429);
}

#[emulator_test]
fn endless_contention_fails_open_or_closed_as_configured() {
    for (config, status) in [
        (CONFIG.to_owned(), 200),
        (CONFIG.replace('}', r#", "fail_open": false}"#), 503),
    ] {
        let envoy = limiter(&config);
        ask(&envoy, "alice");
        let (stored, _) = envoy.shared_data("rate_limit.bucket.alice").unwrap();
        envoy.interfere_with_shared_data("rate_limit.bucket.alice", stored, 8);
        assert_eq!(ask(&envoy, "alice").0, status, "{config}");
        assert_eq!(
            envoy.metric("rate_limit.requests;client=alice;outcome=error"),
            Some(1)
        );
    }
}

#[emulator_test]
fn without_a_client_header_the_client_is_the_peers_ip() {
    let envoy = limiter(r#"{"capacity": 1, "refill_per_second": 1.0}"#);
    envoy.set_property(&["source", "address"], "[2001:db8::7]:51000");
    assert_eq!(ask(&envoy, "ignored").0, 200);
    assert_eq!(ask(&envoy, "ignored").0, 429);
    assert!(envoy.shared_data("rate_limit.bucket.2001:db8::7").is_some());
}

#[emulator_test]
fn the_collector_counts_clients_from_every_decision() {
    let envoy = Emulator::new(register_plugin);
    // One emulated VM plays both: the collector's vm_id, so the filter finds its queue.
    envoy.set_vm_id("rate_limit_collector");
    envoy
        .add_plugin("rate_limit_collector", r#"{"report_every_ms": 100}"#)
        .expect("the collector configures");
    envoy
        .configure(r#"{"capacity": 1, "refill_per_second": 1.0, "client_header": "x-client", "collector": {"vm_id": "rate_limit_collector"}}"#)
        .expect("the filter configures");
    for client in ["a", "b", "a", "c"] {
        ask(&envoy, client);
    }
    assert_eq!(envoy.metric("rate_limit.collector.decisions"), Some(4));
    assert_eq!(envoy.metric("rate_limit.collector.duplicates"), Some(0));
    envoy.advance(Duration::from_millis(100));
    assert_eq!(envoy.metric("rate_limit.clients"), Some(3));
    assert!(envoy.logged("rate_limit collector: 3 clients"));
}

#[emulator_test]
fn bad_configurations_are_refused_naming_the_field() {
    for (config, field) in [
        (r#"{"capacity": 0, "refill_per_second": 1}"#, "capacity"),
        (
            r#"{"capacity": 1, "refill_per_second": -1}"#,
            "refill_per_second",
        ),
        (r#"{"capacity": 1}"#, "refill_per_second"),
        (
            r#"{"capacity": 1, "refill_per_second": 1, "client_header": "X Client"}"#,
            "client_header",
        ),
        (
            r#"{"capacity": 1, "refill_per_second": 1, "collector": {}}"#,
            "collector.vm_id",
        ),
    ] {
        let envoy = Emulator::new(register_plugin);
        let failed = envoy.configure(config).expect_err(config);
        assert_eq!(failed.field_path(), Some(field), "{config}: {failed}");
    }
}
