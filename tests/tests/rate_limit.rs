//! rate_limit in a real Envoy, from the example's own envoy.yaml (and, natively,
//! envoy-native.yaml), at `--concurrency 2`, on both targets: two workers draw from one
//! bucket, the counters carry Prometheus labels, and the collector service (a Wasm
//! singleton; natively a bootstrap extension) hears every decision once, from both workers,
//! and reports on its timer.

use envoy_tests::{Envoy, Target, Upstream, on_both_targets};

/// Connections each worker accepted, from Envoy's per-worker listener stats.
fn connections_per_worker(envoy: &Envoy) -> Vec<u64> {
    envoy
        .stats()
        .lines()
        .filter(|line| line.starts_with("listener.127.0.0.1_") && line.contains(".worker_"))
        .filter_map(|line| line.split_once(".downstream_cx_total: "))
        .filter_map(|(_, count)| count.trim().parse().ok())
        .collect()
}

/// Waits until stat `name` reaches `want` (or [`envoy_tests::WAIT`] passes) and returns its
/// last value.
fn stat_reaching(envoy: &Envoy, name: &str, want: u64) -> Option<u64> {
    envoy_tests::wait_until(|| envoy.stat(name) == Some(want));
    envoy.stat(name)
}

/// A burst from client `alice` over fresh connections, until both workers served some:
/// Envoy, and each request's status. Asserts the bucket (capacity 5) was shared and its
/// counters carry the labels, in each target's Prometheus names.
fn shared_burst() -> (Envoy, Vec<u16>) {
    let upstream = Upstream::start();
    let envoy = Envoy::start_example_with_workers("rate_limit", &upstream, 2)
        .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
    // Each request on a fresh connection, so the kernel spreads them over both workers;
    // at least 12, and until both workers have served some.
    let mut statuses = Vec::new();
    while statuses.len() < 12
        || connections_per_worker(&envoy)
            .iter()
            .filter(|n| **n > 0)
            .count()
            < 2
    {
        assert!(statuses.len() < 60, "one worker took every connection");
        let client = reqwest::blocking::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let response = client
            .get(envoy.url("/"))
            .header("x-client", "alice")
            .send()
            .expect("answered");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
            assert!(response.headers().contains_key("retry-after"));
        }
    }
    let total = statuses.len() as u64;
    let allowed = statuses.iter().filter(|s| **s == 200).count() as u64;
    let limited = statuses.iter().filter(|s| **s == 429).count() as u64;
    assert_eq!(
        (allowed, limited),
        (5, total - 5),
        "capacity 5, shared by both workers: {statuses:?} over {:?} connections per worker",
        connections_per_worker(&envoy)
    );

    // The labels as Prometheus labels: on Wasm by the `stats_tags` of envoy.yaml, natively
    // as Envoy's own tags under the dynamic module's namespace.
    let name = match Target::current() {
        Target::Wasm => "rate_limit_requests",
        Target::Native => "envoy_wasmcustom_rate_limit_requests",
    };
    let allowed_line = format!(r#"{name}{{client="alice",outcome="allowed"}} 5"#);
    let limited_line = format!(
        r#"{name}{{client="alice",outcome="limited"}} {}"#,
        total - 5
    );
    envoy.assert_prometheus("", &[&allowed_line, &limited_line]);
    (envoy, statuses)
}

on_both_targets! {
    fn two_workers_share_one_bucket_and_the_collector_hears_every_decision() {
        collector_hears_every_decision();
    }
}

fn collector_hears_every_decision() {
    let (envoy, statuses) = shared_burst();
    let total = statuses.len() as u64;

    // The collector (one plugin on the main thread) took every decision once, from both
    // workers (its metrics are named alike on both targets: `metrics_namespace: wasmcustom`).
    assert_eq!(
        stat_reaching(&envoy, "wasmcustom.rate_limit.collector.decisions", total),
        Some(total),
        "{}",
        envoy.log()
    );
    assert_eq!(
        envoy.stat("wasmcustom.rate_limit.collector.duplicates"),
        Some(0)
    );
    assert_eq!(
        envoy.stat("wasmcustom.rate_limit.collector.sources"),
        Some(2)
    );
    // Its timer (every second) reports one client.
    assert_eq!(
        stat_reaching(&envoy, "wasmcustom.rate_limit.clients", 1),
        Some(1)
    );
    assert!(envoy.wait_for_log("rate_limit collector: 1 clients"));
    // What the closing note quotes (`--nocapture` shows it).
    eprintln!(
        "burst: {statuses:?}\nconnections per worker: {:?}\n{}\ncollector: {}",
        connections_per_worker(&envoy),
        envoy
            .prometheus()
            .lines()
            .filter(|l| l.contains("rate_limit"))
            .collect::<Vec<_>>()
            .join("\n"),
        envoy
            .stats()
            .lines()
            .filter(|l| l.starts_with("wasmcustom.rate_limit.c"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
