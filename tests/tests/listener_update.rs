//! A listener's configuration replaced while Envoy runs, as an xDS update does (here from
//! a file Envoy watches): new requests get the new configuration, and the old one retires
//! once its connections drain. Envoy then destroys the old filter configuration, and each
//! worker drops its plugin context of it at its next stream (the native target's
//! `envoy_dynamic_module_on_http_filter_config_destroy`; on Wasm the plugin's root
//! context). Two workers, several updates, requests throughout: every answer is the
//! filter's, under one configuration or the other, never without the filter.

use envoy_tests::{
    Envoy, Plugin, Upstream, fixture, free_port, http_plugin_filter, on_both_targets, project_root,
    wait_until,
};
use std::path::Path;

/// `http_headers` configured to mark every response `x-config: <version>`.
fn plugin(version: &str) -> Plugin {
    Plugin::new("http_headers").config(format!(
        r#"{{"response": {{"set": [{{"name": "x-config", "value": "{version}"}}]}}}}"#
    ))
}

/// Writes the listener file Envoy watches in `dir`, serving `plugin` on `port`: written
/// beside it, then moved in, so that Envoy never reads half a file.
fn write_listener(dir: &Path, port: u16, plugin: &Plugin) {
    let listener = fixture(
        "listener_update_lds.yaml",
        &[
            ("PORT", port.to_string()),
            ("PLUGIN_FILTER", http_plugin_filter(plugin)),
        ],
    );
    let staged = dir.join("lds.yaml.next");
    std::fs::write(&staged, listener).expect("write the listener");
    std::fs::rename(&staged, dir.join("lds.yaml")).expect("move the listener in");
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
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        write_listener(dir.path(), port, &plugin("v0"));
        let bootstrap = fixture(
            "listener_update.yaml",
            &[
                ("LDS_DIR", dir.path().display().to_string()),
                ("UPSTREAM_PORT", upstream.port().to_string()),
            ],
        );
        let args = ["--concurrency", "2", "--drain-time-s", "1"];
        let envoy = Envoy::start_config_with_args(&bootstrap, &project_root(), &args)
            .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
        for client in [envoy.http1(), envoy.http2()] {
            assert_eq!(served_by(&envoy, client).as_deref(), Some("v0"));
        }
        for update in 1..=3 {
            let version = format!("v{update}");
            write_listener(dir.path(), port, &plugin(&version));
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
