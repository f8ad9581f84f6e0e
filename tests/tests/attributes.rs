//! Which attributes Envoy 1.40 has at request headers and at response headers: the facts the
//! emulator must follow (issue 14 item 1). The probe filter lists what has a value.

use envoy_tests::{Plugin, serve};

/// The attributes with a value, at request headers (what the upstream saw) and at
/// response headers (what the client saw).
fn present() -> (Vec<String>, Vec<String>) {
    let (upstream, envoy) = serve(&Plugin::new("probe"));
    let response = envoy
        .http1()
        .get(envoy.url("/x?a=1"))
        .header("x-probe", "attrs")
        .header("referer", "https://example.com/")
        .header("user-agent", "attrs-test")
        .send()
        .expect("answered");
    let split = |text: &str| text.split(',').map(str::to_owned).collect::<Vec<_>>();
    let at_response = split(response.headers()["x-attrs"].to_str().unwrap());
    let seen = upstream.last_request().expect("reached the upstream");
    (
        split(seen.header("x-attrs").unwrap_or_default()),
        at_response,
    )
}

#[test]
fn envoy_has_these_attributes_at_each_phase() {
    let (request, response) = present();
    let has = |list: &[String], path: &str| list.iter().any(|p| p == path);
    // Both phases: the stream, the connection, the route as xDS names it, the plugin.
    for path in [
        "request.headers",
        "request.time",
        "request.protocol",
        "source.address",
        "destination.address",
        "connection.id",
        "xds.route_name",
        "xds.cluster_name",
        "plugin_name",
        "plugin_root_id",
    ] {
        assert!(
            has(&request, path),
            "{path} at request headers: {request:?}"
        );
        assert!(
            has(&response, path),
            "{path} at response headers: {response:?}"
        );
    }
    // Request headers only: read from the request line, gone by response time.
    for path in [
        "request.path",
        "request.method",
        "request.host",
        "request.id",
        "request.query",
        "request.referer",
        "request.useragent",
    ] {
        assert!(
            has(&request, path),
            "{path} at request headers: {request:?}"
        );
        assert!(
            !has(&response, path),
            "{path} at response headers: {response:?}"
        );
    }
    // Response headers only.
    for path in ["response.code", "response.code_details", "upstream.address"] {
        assert!(
            !has(&request, path),
            "{path} at request headers: {request:?}"
        );
        assert!(
            has(&response, path),
            "{path} at response headers: {response:?}"
        );
    }
    // Never in upstream Envoy (Higress's Envoy sets the first two): a filter must read
    // `xds.route_name` and `xds.cluster_name` instead.
    for path in ["route_name", "cluster_name", "listener_direction"] {
        assert!(!has(&request, path) && !has(&response, path), "{path}");
    }
}
