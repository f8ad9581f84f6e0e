//! Plugin-level services in a real Envoy: timers in every VM that configures the plugin,
//! a stream's own timer, labelled metrics on `/stats/prometheus`.

use envoy_tests::{Envoy, Plugin, Upstream};
use envoy_wasm_sdk::metrics::stats_tags;
use std::time::{Duration, Instant};

/// Waits until `read` gives the same value twice 300 ms apart (or [`envoy_tests::WAIT`]
/// passes).
fn settled(read: impl Fn() -> Option<u64>) -> Option<u64> {
    let deadline = Instant::now() + envoy_tests::WAIT;
    let mut last = read();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        let now = read();
        if now.is_some() && now == last {
            return now;
        }
        last = now;
    }
    last
}

#[test]
fn a_timer_set_in_configure_runs_in_every_worker_and_on_the_main_thread() {
    let upstream = Upstream::start();
    for workers in [1, 2] {
        let envoy = Envoy::start_with_workers(&Plugin::new("probe"), &upstream, workers)
            .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
        let vms = settled(|| envoy.stat("wasmcustom.probe.timer_vms"));
        assert_eq!(
            vms,
            Some(u64::from(workers) + 1),
            "--concurrency {workers}: one VM per worker and one on the main thread\n{}",
            envoy.stats()
        );
    }
}

#[test]
fn a_stream_timer_holds_the_request_then_lets_it_go_on() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&Plugin::new("probe"), &upstream).expect("starts");
    let started = Instant::now();
    let response = envoy
        .http1()
        .get(envoy.url("/"))
        .header("x-probe", "timer")
        .send()
        .expect("answered");
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "held for the timer"
    );
    let seen = upstream.last_request().expect("reached the upstream");
    assert_eq!(seen.header("x-held"), Some("timer"));
}

#[test]
fn labelled_counters_show_as_prometheus_labels() {
    let upstream = Upstream::start();
    let plugin = Plugin::new("probe").stats_config(stats_tags(&["client", "outcome"]));
    let envoy = Envoy::start(&plugin, &upstream).expect("starts");
    for client in ["alice", "alice", "bob"] {
        let response = envoy
            .http1()
            .get(envoy.url("/"))
            .header("x-probe", "labels")
            .header("x-client", client)
            .send()
            .expect("answered");
        assert_eq!(response.status(), 200);
    }
    // Envoy gives a module's metrics their own namespace: no `envoy_`, no `wasmcustom`.
    envoy.assert_prometheus(
        "probe",
        &[
            r#"probe_requests{client="alice",outcome="seen"} 2"#,
            r#"probe_requests{client="bob",outcome="seen"} 1"#,
        ],
    );
}
