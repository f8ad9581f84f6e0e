//! One table of scenarios, run on the emulator and in a real Envoy with the same assertions:
//! the emulator's fidelity is tested, not assumed.

use envoy_tests::{Envoy, Plugin, Reply, Upstream, serve_with};
use envoy_wasm_sdk::testing::{
    CalloutReply, Emulator, Request as EmuRequest, Response as EmuResponse,
};

/// A request the client sends.
struct Req {
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

impl Req {
    /// A `GET` with no body.
    const fn get(path: &'static str, headers: &'static [(&'static str, &'static str)]) -> Req {
        Req {
            method: "GET",
            path,
            headers,
            body: "",
        }
    }
}

/// What must hold afterwards, on either backend.
#[derive(Default)]
struct Expect {
    reaches_upstream: bool,
    /// Header name and every value the upstream must see, in order (empty: absent).
    upstream: &'static [(&'static str, &'static [&'static str])],
    upstream_body: Option<&'static str>,
    status: u16,
    /// Header name and every value the client must see, in order (empty: absent).
    response: &'static [(&'static str, &'static [&'static str])],
    response_body: Option<&'static str>,
}

struct Scenario {
    name: &'static str,
    plugin: &'static str,
    config: &'static str,
    /// Whether the `service` cluster runs [`auth_decision`] (else it is down).
    auth_service: bool,
    request: Req,
    expect: Expect,
}

/// The auth service both backends use: status and headers for an `authorization` value.
fn auth_decision(authorization: Option<&str>) -> (u16, Vec<(&'static str, &'static str)>) {
    match authorization {
        Some("Bearer good") => (200, vec![("x-user", "alice")]),
        Some("Bearer bad") => (403, vec![]),
        _ => (401, vec![]),
    }
}

const AUTH: &str = r#"{"cluster": "service", "copy_headers": ["x-user"]}"#;

/// What came out, on either backend.
#[derive(Debug)]
struct Outcome {
    upstream: Option<(Vec<(String, String)>, String)>,
    status: u16,
    response_headers: Vec<(String, String)>,
    response_body: String,
}

fn values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn check(backend: &str, scenario: &Scenario, outcome: &Outcome) {
    let at = format!("{} on {backend}: {outcome:#?}", scenario.name);
    let expect = &scenario.expect;
    assert_eq!(
        outcome.upstream.is_some(),
        expect.reaches_upstream,
        "reaches upstream, {at}"
    );
    if let Some((headers, body)) = &outcome.upstream {
        for (name, want) in expect.upstream {
            assert_eq!(values(headers, name), *want, "upstream header {name}, {at}");
        }
        if let Some(want) = expect.upstream_body {
            assert_eq!(body, want, "upstream body, {at}");
        }
    }
    assert_eq!(outcome.status, expect.status, "status, {at}");
    for (name, want) in expect.response {
        assert_eq!(
            values(&outcome.response_headers, name),
            *want,
            "response header {name}, {at}"
        );
    }
    if let Some(want) = expect.response_body {
        assert_eq!(outcome.response_body, want, "response body, {at}");
    }
}

/// The rules every http_headers test uses (one file, shared with the other test suites).
const RULES: &str = include_str!("../../examples/http_headers/tests/rules.json");

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "hello_world adds a response header only",
            plugin: "hello_world",
            config: "",
            auth_service: false,
            request: Req::get("/greet?x=1", &[("x-client", "t")]),
            expect: Expect {
                reaches_upstream: true,
                upstream: &[("x-client", &["t"]), ("x-hello", &[])],
                status: 200,
                response: &[("x-hello", &["world"]), ("x-upstream", &["echo"])],
                ..Expect::default()
            },
        },
        Scenario {
            name: "hello_world passes a body through",
            plugin: "hello_world",
            config: "",
            auth_service: false,
            request: Req {
                method: "POST",
                path: "/items",
                headers: &[],
                body: "{\"id\": 1}",
            },
            expect: Expect {
                reaches_upstream: true,
                upstream_body: Some("{\"id\": 1}"),
                status: 200,
                response: &[("x-hello", &["world"])],
                ..Expect::default()
            },
        },
        Scenario {
            name: "http_headers request rules",
            plugin: "http_headers",
            config: RULES,
            auth_service: false,
            request: Req::get(
                "/api",
                &[
                    ("x-api-key", "k"),
                    ("x-internal", "1"),
                    ("x-env", "dev"),
                    ("x-tag", "from-client"),
                ],
            ),
            expect: Expect {
                reaches_upstream: true,
                upstream: &[
                    ("x-api-key", &[]),
                    ("x-internal", &[]),
                    ("x-env", &["prod"]),
                    ("x-tag", &["from-client", "from-filter"]),
                ],
                status: 200,
                ..Expect::default()
            },
        },
        Scenario {
            name: "http_headers response rules",
            plugin: "http_headers",
            config: RULES,
            auth_service: false,
            request: Req::get("/", &[("x-api-key", "k")]),
            expect: Expect {
                reaches_upstream: true,
                status: 200,
                response: &[
                    ("x-upstream", &[]),
                    ("x-frame-options", &["DENY"]),
                    ("x-tag", &["one", "two"]),
                ],
                ..Expect::default()
            },
        },
        Scenario {
            name: "http_headers answers a missing header with 400, through its response rules",
            plugin: "http_headers",
            config: RULES,
            auth_service: false,
            request: Req::get("/api", &[]),
            expect: Expect {
                reaches_upstream: false,
                status: 400,
                response: &[
                    ("x-frame-options", &["DENY"]),
                    ("x-tag", &["one", "two"]),
                    ("content-type", &["text/plain"]),
                ],
                response_body: Some("missing required header x-api-key\n"),
                ..Expect::default()
            },
        },
        Scenario {
            name: "http_headers with one rule changes only that",
            plugin: "http_headers",
            config: r#"{"response": {"add": [{"name": "x-added", "value": "1"}]}}"#,
            auth_service: false,
            request: Req::get("/", &[("x-keep", "1")]),
            expect: Expect {
                reaches_upstream: true,
                upstream: &[("x-keep", &["1"])],
                status: 200,
                response: &[("x-upstream", &["echo"]), ("x-added", &["1"])],
                ..Expect::default()
            },
        },
        Scenario {
            name: "an Err is a 500 with an empty body",
            plugin: "faulty",
            config: "",
            auth_service: false,
            request: Req::get("/", &[("x-fault", "error")]),
            expect: Expect {
                reaches_upstream: false,
                status: 500,
                response_body: Some(""),
                ..Expect::default()
            },
        },
        Scenario {
            name: "an Err with a status is answered with it",
            plugin: "faulty",
            config: "",
            auth_service: false,
            request: Req::get("/", &[("x-fault", "status")]),
            expect: Expect {
                reaches_upstream: false,
                status: 418,
                response_body: Some("asked for a teapot\n"),
                ..Expect::default()
            },
        },
        Scenario {
            name: "an Err on the response replaces the upstream's response",
            plugin: "faulty",
            config: "",
            auth_service: false,
            request: Req::get("/", &[("x-fault", "response-error")]),
            expect: Expect {
                reaches_upstream: true,
                status: 500,
                response: &[("x-upstream", &[])],
                ..Expect::default()
            },
        },
        Scenario {
            name: "http_auth lets an allowed request through, with the user",
            plugin: "http_auth",
            config: AUTH,
            auth_service: true,
            request: Req::get("/orders", &[("authorization", "Bearer good")]),
            expect: Expect {
                reaches_upstream: true,
                upstream: &[("x-user", &["alice"]), ("authorization", &["Bearer good"])],
                status: 200,
                ..Expect::default()
            },
        },
        Scenario {
            name: "http_auth answers a denied request 403",
            plugin: "http_auth",
            config: AUTH,
            auth_service: true,
            request: Req::get("/orders", &[("authorization", "Bearer bad")]),
            expect: Expect {
                reaches_upstream: false,
                status: 403,
                response_body: Some("forbidden\n"),
                ..Expect::default()
            },
        },
        Scenario {
            name: "http_auth fails closed when the service is down",
            plugin: "http_auth",
            config: AUTH,
            auth_service: false,
            request: Req::get("/", &[("authorization", "Bearer good")]),
            expect: Expect {
                reaches_upstream: false,
                status: 503,
                response_body: Some("auth service unavailable\n"),
                ..Expect::default()
            },
        },
        Scenario {
            name: "a repeated header: get gives the first value, get_all every value",
            plugin: "probe",
            config: "",
            auth_service: false,
            request: Req::get(
                "/",
                &[("x-probe", "repeated"), ("x-rep", "a"), ("x-rep", "b")],
            ),
            expect: Expect {
                reaches_upstream: true,
                upstream: &[
                    ("x-rep", &["a", "b"]),
                    ("x-rep-first", &["a"]),
                    ("x-rep-all", &["a|b"]),
                ],
                status: 200,
                ..Expect::default()
            },
        },
        Scenario {
            name: "deny then continue: a reply sent through the stream handle, then Continue",
            plugin: "probe",
            config: "",
            auth_service: false,
            request: Req::get("/", &[("x-probe", "reply-continue")]),
            expect: Expect {
                reaches_upstream: false,
                status: 403,
                response_body: Some("denied\n"),
                ..Expect::default()
            },
        },
        Scenario {
            name: "a callout started from inside a callout's response",
            plugin: "probe",
            config: "",
            auth_service: true,
            request: Req::get("/", &[("x-probe", "chain")]),
            expect: Expect {
                reaches_upstream: true,
                upstream: &[("x-chain", &["403,200"]), ("x-user", &["alice"])],
                status: 200,
                ..Expect::default()
            },
        },
        Scenario {
            name: "empty values are empty, not absent: header, property, queue item, shared data",
            plugin: "probe",
            config: "",
            auth_service: false,
            request: Req::get("/", &[("x-probe", "empty"), ("x-empty", "")]),
            expect: Expect {
                reaches_upstream: true,
                upstream: &[
                    ("x-empty-get", &["some()"]),
                    ("x-empty-contains", &["true"]),
                    ("x-empty-property", &["some()"]),
                    ("x-empty-queue", &["some()|some(x)"]),
                    ("x-empty-shared", &["some()"]),
                ],
                status: 200,
                ..Expect::default()
            },
        },
        Scenario {
            name: "client input with CR LF echoed into a response header is refused",
            plugin: "probe",
            config: "",
            auth_service: false,
            request: Req::get(
                "/echo?v=a%0d%0aset-cookie:%20evil=1",
                &[("x-probe", "echo-response")],
            ),
            expect: Expect {
                reaches_upstream: true,
                status: 500,
                response: &[("set-cookie", &[]), ("x-echo", &[]), ("x-upstream", &[])],
                ..Expect::default()
            },
        },
        Scenario {
            name: "a request the filter holds is let go by the plugin's timer",
            plugin: "probe",
            config: "",
            auth_service: false,
            request: Req {
                method: "POST",
                path: "/held",
                headers: &[("x-probe", "timer")],
                body: "held body",
            },
            expect: Expect {
                reaches_upstream: true,
                upstream: &[("x-held", &["timer"])],
                upstream_body: Some("held body"),
                status: 200,
                ..Expect::default()
            },
        },
    ]
}

fn register(plugin: &str) -> fn() {
    match plugin {
        "hello_world" => hello_world::register_plugin,
        "http_headers" => http_headers::register_plugin,
        "faulty" => faulty::register_plugin,
        "http_auth" => http_auth::register_plugin,
        "probe" => probe::register_plugin,
        other => panic!("no plugin {other}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn on_emulator(scenario: &Scenario) -> Outcome {
    let envoy = Emulator::new(register(scenario.plugin));
    envoy
        .configure(scenario.config)
        .unwrap_or_else(|e| panic!("{e}"));
    let service_up = scenario.auth_service;
    envoy.answer_http_calls(move |call| {
        if !service_up {
            // What Envoy answers for a cluster whose only host refuses connections.
            return CalloutReply::Respond(EmuResponse::new(503));
        }
        let authorization = call
            .headers
            .iter()
            .find(|(k, _)| k.as_slice() == b"authorization")
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        let (status, headers) = auth_decision(authorization.as_deref());
        headers
            .into_iter()
            .fold(EmuResponse::new(status), |r, (k, v)| r.header(k, v))
            .into()
    });
    let req = &scenario.request;
    let mut request = EmuRequest::new(req.method, req.path);
    for (name, value) in req.headers {
        request = request.header(name, value);
    }
    if !req.body.is_empty() {
        request = request.body(req.body);
    }
    // What the echo upstream of the Envoy harness answers with.
    let upstream = EmuResponse::ok()
        .header("content-type", "application/json")
        .header("server", "echo-upstream")
        .header("x-upstream", "echo");
    let exchange = envoy.send_with(request, upstream);
    let pairs = |p: &Vec<(Vec<u8>, Vec<u8>)>| {
        p.iter()
            .map(|(k, v)| (text(k), text(v)))
            .collect::<Vec<_>>()
    };
    let response = exchange.response();
    Outcome {
        upstream: exchange.reached_upstream().then(|| {
            (
                pairs(&exchange.upstream().headers),
                exchange.upstream().body_text(),
            )
        }),
        status: response.status().unwrap_or(0),
        response_headers: pairs(&response.headers),
        response_body: response.body_text(),
    }
}

fn on_envoy(envoy: &Envoy, upstream: &Upstream, scenario: &Scenario) -> Outcome {
    let before = upstream.requests().len();
    let req = &scenario.request;
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut builder = envoy.http1().request(method, envoy.url(req.path));
    for (name, value) in req.headers {
        builder = builder.header(*name, *value);
    }
    let response = builder.body(req.body).send().unwrap();
    let status = response.status().as_u16();
    let response_headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let response_body = response.text().unwrap();
    Outcome {
        upstream: upstream
            .requests()
            .get(before)
            .filter(|seen| seen.complete)
            .map(|seen| (seen.headers.clone(), seen.body.clone())),
        status,
        response_headers,
        response_body,
    }
}

#[test]
fn every_scenario_holds_on_the_emulator() {
    for scenario in scenarios() {
        check("the emulator", &scenario, &on_emulator(&scenario));
    }
}

#[test]
fn every_scenario_holds_in_envoy() {
    let scenarios = scenarios();
    // One Envoy per plugin configuration; scenarios sharing it run in turn.
    let mut groups: Vec<(&str, &str, bool)> = scenarios
        .iter()
        .map(|s| (s.plugin, s.config, s.auth_service))
        .collect();
    groups.dedup();
    for (plugin, config, auth_service) in groups {
        let service = auth_service.then(|| {
            Upstream::start_with(|request| {
                let (status, headers) = auth_decision(request.header("authorization"));
                headers
                    .into_iter()
                    .fold(Reply::status(status), |r, (k, v)| r.header(k, v))
            })
        });
        let (upstream, envoy) = serve_with(&Plugin::new(plugin).config(config), service.as_ref());
        let group = |s: &&Scenario| {
            s.plugin == plugin && s.config == config && s.auth_service == auth_service
        };
        for scenario in scenarios.iter().filter(group) {
            check("Envoy", scenario, &on_envoy(&envoy, &upstream, scenario));
        }
    }
}
