//! A listener's filters as users run them, on both targets, with two workers: a
//! configuration replaced while Envoy runs, as an xDS update does (here from a file Envoy
//! watches), and two configurations of one module in one chain.
//!
//! On an update new requests get the new configuration, and the old one retires once its
//! connections drain: Envoy destroys the old filter configuration, and each worker drops
//! its plugin context of it at its next stream (natively through
//! `envoy_dynamic_module_on_http_filter_config_destroy`; on Wasm the plugin's root
//! context). Every answer is the filter's, under one configuration or the other, never
//! without the filter.

use envoy_tests::{Envoy, Plugin, Upstream, http_plugin_filter, on_both_targets, wait_until};

/// `http_headers` configured to mark every response `x-config: <version>`.
fn plugin(version: &str) -> Plugin {
    Plugin::new("http_headers").config(format!(
        r#"{{"response": {{"set": [{{"name": "x-config", "value": "{version}"}}]}}}}"#
    ))
}

/// The `x-config` of one request's answer; `None` if the request did not get through (a
/// connection the drain closed as the request went). Panics on an answer that is not the
/// upstream's through the filter.
fn served_by(envoy: &Envoy, client: &reqwest::blocking::Client) -> Option<String> {
    let response = client.get(envoy.url("/")).send().ok()?;
    assert_eq!(response.status(), 200, "{}", envoy.log());
    let config = response
        .headers()
        .get("x-config")
        .map(|value| value.to_str().expect("text").to_owned());
    Some(
        config.unwrap_or_else(|| panic!("an answer without the filter's header:\n{}", envoy.log())),
    )
}

on_both_targets! {
    fn a_listener_update_serves_the_new_configuration_and_retires_the_old() {
        let upstream = Upstream::start();
        let args = ["--concurrency", "2", "--drain-time-s", "1"];
        let filters = |version: &str| [http_plugin_filter(&plugin(version))];
        let (envoy, listener) = Envoy::start_watched(&filters("v0"), &upstream, &args);
        for client in [envoy.http1(), envoy.http2()] {
            assert_eq!(served_by(&envoy, client).as_deref(), Some("v0"));
        }
        for update in 1..=3 {
            let version = format!("v{update}");
            listener.replace(&filters(&version));
            // Requests go on while the old listener drains: each is served by the old
            // configuration or the new one, and soon by the new one on both protocols.
            for client in [envoy.http1(), envoy.http2()] {
                let updated = wait_until(|| {
                    let Some(seen) = served_by(&envoy, client) else {
                        return false;
                    };
                    assert!(
                        seen == version || seen == format!("v{}", update - 1),
                        "served by {seen} during the update to {version}"
                    );
                    seen == version
                });
                assert!(updated, "still not {version}:\n{}", envoy.log());
            }
        }
        // Every update was Envoy's listener update, and the old configurations' streams
        // ended with their connections: nothing is left on them.
        let updates = envoy.stat("listener_manager.listener_modified").unwrap_or(0);
        assert!(updates >= 3, "{updates} listener updates:\n{}", envoy.stats());
        let drained = wait_until(|| envoy.stat("listener_manager.total_filter_chains_draining") == Some(0));
        assert!(drained, "old filter chains still draining:\n{}", envoy.stats());
        // The retired configurations' plugin contexts went on each worker at its next
        // stream: requests still pass, under the newest configuration only.
        for _ in 0..20 {
            for client in [envoy.http1(), envoy.http2()] {
                assert_eq!(served_by(&envoy, client).as_deref(), Some("v3"));
            }
        }
        let log = envoy.log();
        assert!(!log.contains("panicked"), "{log}");
    }
}

on_both_targets! {
    /// Two configurations of one module in one chain (on Wasm two filters of one VM, as
    /// Istio renders two `WasmPlugin`s of one image; natively two filter configurations of
    /// one module), two workers: each of a stream's two filters runs with its own
    /// configuration, request after request, as the threads' streams and the objects they
    /// reuse alternate between the two plugin contexts.
    fn two_configurations_in_one_chain_each_run_their_own() {
        let upstream = Upstream::start();
        let marks = |name: &str, value: &str| {
            Plugin::new("http_headers").config(format!(
                r#"{{"response": {{"add": [{{"name": "{name}", "value": "{value}"}}]}}}}"#
            ))
        };
        let filters = [
            http_plugin_filter(&marks("x-first", "1")),
            http_plugin_filter(&marks("x-second", "2")),
        ];
        let (envoy, _listener) =
            Envoy::start_watched(&filters, &upstream, &["--concurrency", "2"]);
        for _ in 0..50 {
            for client in [envoy.http1(), envoy.http2()] {
                let response = client.get(envoy.url("/")).send().expect("Envoy answers");
                assert_eq!(response.status(), 200, "{}", envoy.log());
                let values = |name: &str| {
                    (response.headers().get_all(name).iter())
                        .map(|value| value.to_str().expect("text").to_owned())
                        .collect::<Vec<_>>()
                };
                assert_eq!(values("x-first"), ["1"], "{}", envoy.log());
                assert_eq!(values("x-second"), ["2"], "{}", envoy.log());
            }
        }
    }
}
