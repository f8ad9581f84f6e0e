//! grpc_access_log on the emulator: the stream opens, summaries flow once the collector
//! answers, wait while it is broken, and it reopens with backoff.

use envoy_wasm_sdk::grpc::GrpcStatus;
use envoy_wasm_sdk::testing::{Emulator, Request, Response, emulator_test};
use grpc_access_log::proto::Entry;
use grpc_access_log::register_plugin;
use prost::Message as _;
use std::time::Duration;

const CONFIG: &str =
    r#"{"cluster": "collector", "buffer": 2, "backoff_ms": 100, "max_backoff_ms": 400}"#;

fn started() -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(CONFIG).unwrap_or_else(|e| panic!("{e}"));
    // The stream opens from a timer right after configure.
    envoy.advance(Duration::from_millis(1));
    envoy
}

/// The summaries sent on stream `index`.
fn entries(envoy: &Emulator, index: usize) -> Vec<Entry> {
    envoy.grpc_calls()[index]
        .messages
        .iter()
        .map(|bytes| Entry::decode(bytes.as_slice()).unwrap())
        .collect()
}

fn paths(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

#[emulator_test]
fn summaries_wait_for_the_collector_then_flow() {
    let envoy = started();
    let call = envoy.grpc_calls()[0].clone();
    assert!(call.stream);
    assert_eq!(
        (
            call.upstream.as_str(),
            call.service.as_str(),
            call.method.as_str()
        ),
        ("collector", "accesslog.v1.Collector", "Report")
    );
    // Not answered yet: the summary waits.
    envoy.send(Request::get("/early"));
    assert!(entries(&envoy, 0).is_empty());
    envoy.send_grpc_initial_metadata(call.token, &[]);
    assert!(envoy.logged("collector stream open"));
    envoy.advance(Duration::from_millis(30));
    let served = envoy.send_with(Request::new("POST", "/orders"), Response::new(201));
    assert_eq!(served.response().status(), Some(201));
    let sent = entries(&envoy, 0);
    assert_eq!(paths(&sent), ["/early", "/orders"]);
    assert_eq!((sent[1].method.as_str(), sent[1].status), ("POST", 201));
    assert!(sent[1].request_id.starts_with("00000000-0000-4000-8000-"));
    assert_eq!(envoy.metric("grpc_access_log.sent"), Some(2));
}

#[emulator_test]
fn a_broken_stream_is_reopened_with_backoff_and_nothing_is_lost_that_fits() {
    let envoy = started();
    let first = envoy.grpc_calls()[0].token;
    envoy.send_grpc_initial_metadata(first, &[]);
    envoy.send(Request::get("/a"));
    envoy.close_grpc_call(first, GrpcStatus::Unavailable, "collector gone");
    assert!(
        envoy.logged(
            "collector stream closed: UNAVAILABLE (14) collector gone; reopening in 100 ms"
        )
    );
    // Requests go on while it is down; their summaries wait (two fit).
    for path in ["/b", "/c", "/d"] {
        assert_eq!(
            envoy.send(Request::get(path)).response().status(),
            Some(200)
        );
    }
    assert_eq!(envoy.metric("grpc_access_log.dropped"), Some(1));
    // The next stream opens 100 ms later; it fails too, and the wait doubles.
    envoy.advance(Duration::from_millis(100));
    assert_eq!(envoy.grpc_calls().len(), 2);
    envoy.close_grpc_call(
        envoy.grpc_calls()[1].token,
        GrpcStatus::Unavailable,
        "still gone",
    );
    assert!(envoy.logged("reopening in 200 ms"));
    envoy.advance(Duration::from_millis(199));
    assert_eq!(envoy.grpc_calls().len(), 2, "not before 200 ms");
    envoy.advance(Duration::from_millis(1));
    let third = envoy.grpc_calls()[2].token;
    envoy.send_grpc_initial_metadata(third, &[]);
    envoy.send(Request::get("/e"));
    assert_eq!(paths(&entries(&envoy, 0)), ["/a"]);
    assert_eq!(paths(&entries(&envoy, 2)), ["/c", "/d", "/e"]);
    assert_eq!(envoy.metric("grpc_access_log.reopened"), Some(2));
    // A stream that stayed open as long as the longest wait: the backoff starts over.
    envoy.advance(Duration::from_millis(400));
    envoy.close_grpc_call(third, GrpcStatus::Internal, "restarting");
    assert!(envoy.logged("collector stream closed: INTERNAL (13) restarting; reopening in 100 ms"));
}

#[emulator_test]
fn a_collector_that_breaks_every_stream_at_once_is_retried_ever_less_often() {
    let envoy = started();
    // Each stream is answered, then broken at once: the wait grows to its cap and stays.
    for (attempt, wait) in [100u64, 200, 400, 400, 400].into_iter().enumerate() {
        let stream = envoy.grpc_calls()[attempt].token;
        envoy.send_grpc_initial_metadata(stream, &[]);
        envoy.close_grpc_call(stream, GrpcStatus::Unavailable, "broken");
        assert!(
            envoy.logged(&format!("broken; reopening in {wait} ms")),
            "attempt {attempt}: {:?}",
            envoy.logs()
        );
        envoy.advance(Duration::from_millis(wait - 1));
        assert_eq!(
            envoy.grpc_calls().len(),
            attempt + 1,
            "not before {wait} ms"
        );
        envoy.advance(Duration::from_millis(1));
        assert_eq!(envoy.grpc_calls().len(), attempt + 2);
    }
}

#[emulator_test]
fn bad_configurations_are_refused_naming_the_field() {
    for (config, field) in [
        (r#"{"cluster": ""}"#, "cluster"),
        (r#"{"cluster": "c", "backoff_ms": 0}"#, "max_backoff_ms"),
        (
            r#"{"cluster": "c", "backoff_ms": 500, "max_backoff_ms": 100}"#,
            "max_backoff_ms",
        ),
        (r#"{"cluster": "c", "buffer": -1}"#, "buffer"),
        (r#"{}"#, "cluster"),
    ] {
        let envoy = Emulator::new(register_plugin);
        let failed = envoy.configure(config).expect_err(config);
        assert_eq!(failed.field_path(), Some(field), "{failed}");
    }
}
