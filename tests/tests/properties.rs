//! Which properties Envoy 1.40 has at request headers and at response headers: one table,
//! checked in a real Envoy and on the emulator with the same assertions, so the emulator
//! serves a property only where Envoy has it (issue 14 item 1). The `attributes` filter lists
//! what has a value.

use envoy_tests::{Plugin, Target, serve};
use envoy_wasm_sdk::testing::{Emulator, Request, Response};
use std::collections::BTreeSet;

/// The attributes with a value, at request headers (what the upstream saw) and at
/// response headers (what the client saw).
struct Present {
    request: Vec<String>,
    response: Vec<String>,
}

const HEADERS: [(&str, &str); 2] = [
    ("referer", "https://example.com/"),
    ("user-agent", "attrs-test"),
];

/// Read from the request line and its headers: on Wasm, gone by response headers.
const REQUEST_LINE: [&str; 9] = [
    "request.path",
    "request.url_path",
    "request.host",
    "request.scheme",
    "request.method",
    "request.id",
    "request.query",
    "request.referer",
    "request.useragent",
];

fn split(text: &str) -> Vec<String> {
    text.split(',').map(str::to_owned).collect()
}

fn in_envoy() -> Present {
    let (upstream, envoy) = serve(&Plugin::new("attributes"));
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
    for path in REQUEST_LINE {
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
        on_the_emulator(Emulator::new(attributes::register_plugin)),
    );
    let compiled = on_the_emulator(Emulator::from_wasm(envoy_tests::wasm_path("attributes")));
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

/// The native target (the same filter as an Envoy dynamic module) in the same Envoy has the
/// properties the README's "Native target" table says: the Wasm set, less what the
/// dynamic-module ABI does not reach, and the request's own properties still readable at
/// response headers.
#[test]
fn natively_envoy_has_the_properties_the_readme_lists() {
    let wasm = in_envoy();
    let mut native = None;
    Target::Native.run(|| native = Some(in_envoy()));
    let native = native.expect("ran");
    check(
        "Envoy, native",
        &Present {
            // `check` asserts the request-only properties are gone at response headers:
            // natively they are not, which the assertions below cover.
            response: native
                .response
                .iter()
                .filter(|p| !REQUEST_LINE.contains(&p.as_str()))
                .cloned()
                .collect(),
            request: native.request.clone(),
        },
    );
    let set = |list: &[String]| list.iter().cloned().collect::<BTreeSet<String>>();
    let without = |list: &[String], gone: &[&str]| {
        let mut set = set(list);
        set.retain(|p| !gone.contains(&p.as_str()));
        set
    };
    let unreachable = ["connection.mtls", "connection.requested_server_name"];
    assert_eq!(
        set(&native.request),
        without(&wasm.request, &unreachable),
        "at request headers"
    );
    let mut expected = without(
        &wasm.response,
        &[&unreachable[..], &["upstream.transport_failure_reason"]].concat(),
    );
    expected.extend(REQUEST_LINE.iter().map(|p| p.to_string()));
    assert_eq!(set(&native.response), expected, "at response headers");
}
