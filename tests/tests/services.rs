//! A service (a plugin whose filter is `NoFilter`) in a real Envoy, on both targets: a Wasm
//! singleton, natively Envoy's bootstrap extension for dynamic modules. The test filter
//! `delay`'s `pinger` calls out from its timers (one-shot, then periodic), counts the
//! answers on its metric and logs them; a configuration it refuses stops Envoy, saying why.
//! (`tests/tests/rate_limit.rs` has a service fed by workers through a queue.)

use envoy_tests::{Envoy, Plugin, Reply, Target, Upstream, on_both_targets, wait_until};
use std::time::{Duration, Instant};

on_both_targets! {
    fn a_service_calls_out_on_its_timers_and_counts_the_answers() {
        let upstream =
            Upstream::start_with(|seen| Reply::status(200).header("x-seen-path", &seen.path));
        let plugin = Plugin::new("delay").service("pinger", "upstream /ping 100");
        let envoy = Envoy::start(&plugin, &upstream)
            .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
        let answers = || envoy.stat("wasmcustom.delay.pinger.answers").unwrap_or(0);
        assert!(wait_until(|| answers() >= 3), "{}", envoy.log());
        assert!(envoy.log().contains("pinger: 200 /ping"), "{}", envoy.log());
        let pings = || {
            upstream
                .requests()
                .iter()
                .filter(|seen| seen.path == "/ping")
                .count() as u64
        };
        // Every answer counted was a ping the upstream saw (a later one may be in flight).
        assert!(pings() >= answers().min(3), "{} pings", pings());
        // The period holds: over a measured window the upstream sees no more pings than
        // one per 100 ms (Envoy's timers fire late under load, never early), plus one at
        // each edge of the window.
        let (before, started) = (pings(), Instant::now());
        std::thread::sleep(Duration::from_millis(1000));
        let (during, window) = (pings() - before, started.elapsed());
        let most = window.as_millis() as u64 / 100 + 2;
        assert!(during <= most, "{during} pings in {window:?}: faster than every 100 ms");
        // What Envoy said (shown with `--nocapture`).
        for line in envoy.log().lines().filter(|l| l.contains("pinger:")).take(4) {
            eprintln!("{}", line.split_once("] ").map_or(line, |(_, rest)| rest));
        }
        // The module's filter serves its streams beside the service.
        let response = envoy.http1().get(envoy.url("/")).send().unwrap();
        assert_eq!(response.status(), 200);
    }
}

on_both_targets! {
    fn a_service_configuration_it_refuses_stops_envoy() {
        let upstream = Upstream::start();
        let plugin = Plugin::new("delay").service("pinger", "upstream /ping");
        let exited = Envoy::start(&plugin, &upstream)
            .err()
            .expect("Envoy refused the service's configuration");
        assert!(
            exited.log.contains("expected `CLUSTER PATH MILLISECONDS`"),
            "{}",
            exited.log
        );
    }
}

/// Natively a filter's plugin has no timers (it lives on every worker, where Envoy's ABI
/// has none): the test filter `binding`, whose HTTP plugin sets one, does not compile as a
/// dynamic module, and the compiler names the bound.
#[test]
fn natively_a_filters_plugin_timer_is_a_compile_error() {
    let output = std::process::Command::new(env!("CARGO"))
        .current_dir(envoy_tests::project_root())
        .args(["check", "--features", "envoy-wasm-sdk/dynamic-module"])
        .args(["-p", "binding", "--lib"])
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("the method `once` exists"), "{stderr}");
    assert!(stderr.contains("`Tag: TimerPlugin`"), "{stderr}");
}

/// A filter's plugin registers a queue on Wasm; natively (where nothing could wake it on a
/// worker) the registration fails and the plugin refuses its configuration at load.
#[test]
fn only_natively_a_filters_plugin_cannot_register_a_queue() {
    let upstream = Upstream::start();
    let plugin = Plugin::new("delay").config("register reports");
    Target::Wasm.run(|| {
        let envoy = Envoy::start(&plugin, &upstream)
            .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
        assert!(
            envoy.wait_for_log("registered queue reports"),
            "{}",
            envoy.log()
        );
    });
    Target::Native.run(|| {
        let exited = Envoy::start_rejected(&plugin, &upstream);
        eprintln!("{}", exited.rejection());
        assert!(
            exited.rejection().contains("Unimplemented"),
            "{}",
            exited.log
        );
    });
}
