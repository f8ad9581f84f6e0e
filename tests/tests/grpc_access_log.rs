//! grpc_access_log in a real Envoy, from the example's own envoy.yaml, with a real gRPC
//! collector: every stream's summary arrives on one long-lived client stream, requests go
//! on while the collector is down, and after it restarts the plugin reopens the stream and
//! the summaries that waited arrive first.

use envoy_tests::{Envoy, GrpcCollector, Upstream, project_root, with_free_ports};
use grpc_access_log::proto::Entry;
use prost::Message as _;
use std::time::{Duration, Instant};

fn within(what: &str, done: impl FnMut() -> bool) {
    assert!(
        envoy_tests::wait_until(done),
        "timed out waiting for {what}"
    );
}

fn paths(collector: &GrpcCollector) -> Vec<String> {
    collector
        .messages()
        .iter()
        .map(|(method, bytes)| {
            assert_eq!(method, "/accesslog.v1.Collector/Report");
            Entry::decode(bytes.as_slice()).expect("an Entry").path
        })
        .collect()
}

/// The example's own envoy.yaml, with its upstream and collector, and `edit` applied.
fn start(upstream: &Upstream, collector: &GrpcCollector, edit: impl Fn(String) -> String) -> Envoy {
    envoy_tests::wasm_path("grpc_access_log");
    let dir = project_root().join("examples/grpc_access_log");
    let config = std::fs::read_to_string(dir.join("envoy.yaml")).unwrap();
    let config = with_free_ports(&config, upstream).replace(
        "port_value: 8081",
        &format!("port_value: {}", collector.port()),
    );
    Envoy::start_config(&edit(config), &dir)
        .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log))
}

#[test]
fn summaries_survive_a_collector_restart() {
    let mut collector = GrpcCollector::start();
    let upstream = Upstream::start();
    let envoy = start(&upstream, &collector, |config| config);
    let opened = |n: usize| envoy.log().matches("collector stream open").count() >= n;
    // One stream per VM that configures the plugin: the worker's, and the main thread's.
    within("the streams to open", || opened(2));

    let get = |path: &str| {
        let response = envoy.http1().get(envoy.url(path)).send().unwrap();
        assert_eq!(response.status(), 200, "{path}");
    };
    for path in ["/a", "/b", "/c"] {
        get(path);
    }
    within("three summaries", || collector.messages().len() == 3);
    assert_eq!(paths(&collector), ["/a", "/b", "/c"]);
    let first = Entry::decode(collector.messages()[0].1.as_slice()).unwrap();
    assert_eq!((first.method.as_str(), first.status), ("GET", 200));
    assert!(!first.request_id.is_empty());

    // The collector goes away: the streams break, requests still go on.
    collector.stop();
    within("the break to be seen", || {
        envoy
            .log()
            .matches("collector stream closed: UNAVAILABLE")
            .count()
            >= 2
    });
    let down = Instant::now();
    for path in ["/d", "/e"] {
        get(path);
    }
    assert!(
        down.elapsed() < Duration::from_secs(2),
        "requests were not held"
    );

    // Back: the plugin reopens (with backoff), and what waited arrives, then the rest.
    collector.restart();
    within("the streams to reopen", || opened(4));
    get("/f");
    within("all six summaries", || collector.messages().len() == 6);
    assert_eq!(paths(&collector), ["/a", "/b", "/c", "/d", "/e", "/f"]);
    assert!(collector.streams() >= 4, "a new stream after the restart");
    assert_eq!(envoy.stat("wasmcustom.grpc_access_log.sent"), Some(6));
    // Shown with `--nocapture`: the plugin's side and the collector's.
    for line in envoy
        .log()
        .lines()
        .filter(|l| l.contains("collector stream"))
    {
        eprintln!("{}", &line[line.find("wasm log").unwrap_or(0)..]);
    }
    eprintln!("collector received, in order: {:?}", paths(&collector));
}

#[test]
fn a_stream_that_cannot_open_is_retried_and_requests_go_on() {
    let collector = GrpcCollector::start();
    let upstream = Upstream::start();
    // A cluster Envoy does not have: the stream fails to open, at once.
    let envoy = start(&upstream, &collector, |config| {
        config.replace(r#""cluster": "collector""#, r#""cluster": "nowhere""#)
    });
    within("the refusal", || {
        envoy
            .log()
            .matches("cannot open the collector stream: proxy_grpc_stream failed")
            .count()
            >= 2
    });
    let response = envoy.http1().get(envoy.url("/x")).send().unwrap();
    assert_eq!(response.status(), 200);
    within("a retry", || {
        envoy
            .stat("wasmcustom.grpc_access_log.reopened")
            .unwrap_or(0)
            >= 1
    });
    assert_eq!(collector.streams(), 0);
}
