//! Which attributes Envoy 1.40 has at request headers and at response headers: one table,
//! checked in a real Envoy and on the emulator with the same assertions, so the emulator
//! serves an attribute only where Envoy has it (issue 14 item 1). The probe filter lists
//! what has a value.

use envoy_tests::{Plugin, serve};
use envoy_wasm_sdk::testing::{Emulator, Request, Response};

/// The attributes with a value, at request headers (what the upstream saw) and at
/// response headers (what the client saw).
struct Present {
    request: Vec<String>,
    response: Vec<String>,
}

const HEADERS: [(&str, &str); 3] = [
    ("x-probe", "attrs"),
    ("referer", "https://example.com/"),
    ("user-agent", "attrs-test"),
];

fn split(text: &str) -> Vec<String> {
    text.split(',').map(str::to_owned).collect()
}

fn in_envoy() -> Present {
    let (upstream, envoy) = serve(&Plugin::new("probe"));
    let mut request = envoy.http1().get(envoy.url("/x?a=1"));
    for (name, value) in HEADERS {
        request = request.header(name, value);
    }
    let response = request.send().expect("answered");
    let seen = upstream.last_request().expect("reached the upstream");
    Present {
        request: split(seen.header("x-attrs").unwrap_or_default()),
        response: split(response.headers()["x-attrs"].to_str().unwrap()),
    }
}

fn on_the_emulator(envoy: Emulator) -> Present {
    envoy.configure("").expect("configures");
    let mut request = Request::get("/x?a=1");
    for (name, value) in HEADERS {
        request = request.header(name, value);
    }
    let exchange = envoy.send_with(request, Response::ok());
    Present {
        request: split(exchange.upstream().header("x-attrs").unwrap_or_default()),
        response: split(exchange.response().header("x-attrs").unwrap_or_default()),
    }
}

fn check(backend: &str, Present { request, response }: &Present) {
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
            has(request, path),
            "{backend}: {path} at request headers: {request:?}"
        );
        assert!(
            has(response, path),
            "{backend}: {path} at response headers: {response:?}"
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
            has(request, path),
            "{backend}: {path} at request headers: {request:?}"
        );
        assert!(
            !has(response, path),
            "{backend}: {path} at response headers: {response:?}"
        );
    }
    // Response headers only.
    for path in ["response.code", "response.code_details", "upstream.address"] {
        assert!(
            !has(request, path),
            "{backend}: {path} at request headers: {request:?}"
        );
        assert!(
            has(response, path),
            "{backend}: {path} at response headers: {response:?}"
        );
    }
    // Never in upstream Envoy (Higress's Envoy sets the first two): a filter must read
    // `xds.route_name` and `xds.cluster_name` instead.
    for path in ["route_name", "cluster_name", "listener_direction"] {
        assert!(
            !has(request, path) && !has(response, path),
            "{backend}: {path}"
        );
    }
}

#[test]
fn envoy_and_the_emulator_have_the_same_attributes_at_each_phase() {
    let (envoy, emulator) = (
        in_envoy(),
        on_the_emulator(Emulator::new(probe::register_plugin)),
    );
    let compiled = on_the_emulator(Emulator::from_wasm(envoy_tests::wasm_path("probe")));
    check("Envoy", &envoy);
    check("emulator", &emulator);
    // Not only these: the emulator serves exactly the attributes Envoy has, phase by phase.
    assert_eq!(emulator.request, envoy.request, "at request headers");
    assert_eq!(emulator.response, envoy.response, "at response headers");
    assert_eq!(
        compiled.request, envoy.request,
        "the module, at request headers"
    );
    assert_eq!(
        compiled.response, envoy.response,
        "the module, at response headers"
    );
}
