//! Every example on the emulator with arbitrary input: configurations (any JSON, and JSON
//! shaped like the example's schema with arbitrary values) and requests (odd header bytes,
//! repeats, hundreds of headers, bodies in arbitrary chunks, trailers, callouts answered
//! any way), and for the network filter arbitrary bytes in arbitrary chunks both ways.
//! Never a panic or a trap (the emulator re-raises a guest panic), a rejected
//! configuration names what is wrong, and a request gets only the outcomes the filter
//! defines. Small case counts keep `scripts/test.sh` quick; `PROPTEST_CASES=5000 cargo test
//! -p envoy-tests --test arbitrary` runs longer.

use envoy_tests::project_root;
use envoy_wasm_sdk::grpc::GrpcStatus;
use envoy_wasm_sdk::testing::{CalloutReply, Emulator, GrpcReply, Request, Response};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

/// An example: how to load it, its configuration, and the statuses it may answer.
struct Example {
    name: &'static str,
    register: fn(),
    statuses: &'static [u16],
}

const EXAMPLES: [Example; 9] = [
    Example {
        name: "hello_world",
        register: hello_world::register_plugin,
        statuses: &[200],
    },
    Example {
        name: "http_headers",
        register: http_headers::register_plugin,
        statuses: &[200, 400],
    },
    Example {
        name: "http_auth",
        register: http_auth::register_plugin,
        statuses: &[200, 403, 503],
    },
    Example {
        name: "grpc_auth",
        register: grpc_auth::register_plugin,
        statuses: &[200, 403, 503],
    },
    Example {
        name: "http_body",
        register: http_body::register_plugin,
        statuses: &[200, 400, 413, 415],
    },
    Example {
        name: "http_routing",
        register: http_routing::register_plugin,
        statuses: &[200],
    },
    Example {
        name: "rate_limit",
        register: rate_limit::register_plugin,
        statuses: &[200, 429],
    },
    Example {
        name: "key_auth",
        register: key_auth::register_plugin,
        statuses: &[200, 400, 401, 403],
    },
    // A network filter: HTTP streams do not reach it.
    Example {
        name: "tcp_guard",
        register: tcp_guard::register_plugin,
        statuses: &[200],
    },
];

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(project_root().join(path)).ok()
}

/// The example's own configuration (its `deploy/config.json`), empty if it takes none.
fn config_of(example: &Example) -> String {
    read(&format!("examples/{}/deploy/config.json", example.name)).unwrap_or_default()
}

/// The top-level property names of the example's configuration schema.
fn fields_of(example: &Example) -> Vec<String> {
    let schema: Value = read(&format!("examples/{}/deploy/schema.json", example.name))
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    schema["properties"]
        .as_object()
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        Just(Value::from("x-api-key")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec(("[a-z_]{1,8}", inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,24}",
        Just("authorization".to_string()),
        Just("content-type".to_string()),
        Just("x-api-key".to_string()),
        Just("x-version".to_string()),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        vec((header_name(), vec(any::<u8>(), 0..48)), 0..200),
        vec(vec(any::<u8>(), 0..300), 0..5),
        vec((header_name(), "[ -~]{0,16}"), 0..3),
        prop_oneof![Just("GET"), Just("POST"), Just("PUT")],
    )
        .prop_map(|(headers, chunks, trailers, method)| {
            let mut request = Request::new(method, "/arbitrary?q=1");
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            if !chunks.is_empty() {
                request = request.chunks(chunks);
            }
            for (name, value) in &trailers {
                request = request.trailer(name, value);
            }
            request
        })
}

fn callout_reply() -> impl Strategy<Value = (u8, u16)> {
    (
        0u8..4,
        prop_oneof![Just(200u16), Just(401), Just(403), Just(500)],
    )
}

proptest! {
    // Few cases in scripts/test.sh; `PROPTEST_CASES` (scripts/fuzz.sh) asks for more.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(24)
    ))]

    #[test]
    fn any_json_configuration_is_accepted_or_refused_never_a_panic(config in json()) {
        for example in &EXAMPLES {
            let envoy = Emulator::new(example.register);
            let _ = envoy.configure(config.to_string());
        }
    }

    #[test]
    fn a_refused_schema_shaped_configuration_names_a_field(values in vec(json(), 8)) {
        for example in &EXAMPLES {
            let fields = fields_of(example);
            if fields.is_empty() {
                continue;
            }
            let config: serde_json::Map<String, Value> =
                fields.iter().cloned().zip(values.iter().cloned()).collect();
            let envoy = Emulator::new(example.register);
            if let Err(refused) = envoy.configure(Value::Object(config).to_string()) {
                let text = refused.to_string();
                prop_assert!(
                    fields.iter().any(|field| text.contains(field.as_str())),
                    "{}: {text}", example.name
                );
            }
        }
    }

    #[test]
    fn arbitrary_requests_get_only_the_outcomes_each_filter_defines(
        request in request(),
        (kind, status) in callout_reply(),
    ) {
        for example in &EXAMPLES {
            let envoy = Emulator::new(example.register);
            envoy.configure(config_of(example)).unwrap();
            envoy.answer_http_calls(move |_| match kind {
                0 => CalloutReply::Fail("reset".into()),
                1 => CalloutReply::TimeOut,
                _ => Response::new(status).header("x-user", "u").into(),
            });
            envoy.answer_grpc_calls(move |_| match kind {
                0 => GrpcReply::Status(GrpcStatus::Unavailable, "unavailable".into()),
                1 => GrpcReply::Status(GrpcStatus::PermissionDenied, "denied".into()),
                _ => GrpcReply::Message(Vec::new()),
            });
            let exchange = envoy.send_with(request.clone(), Response::ok());
            let answered = exchange.response().status().unwrap_or(0);
            prop_assert!(
                example.statuses.contains(&answered),
                "{} answered {answered}", example.name
            );
        }
    }

    #[test]
    fn arbitrary_connections_are_refused_whole_or_pass_whole(
        opening in prop_oneof![Just(&b""[..]), Just(&b"GET "[..]), Just(&b"PO"[..]), Just(&b"SSH-2.0"[..])],
        chunks in vec((any::<bool>(), vec(any::<u8>(), 0..80)), 0..8),
        finish in any::<bool>(),
    ) {
        let envoy = Emulator::new(tcp_guard::register_plugin);
        envoy.configure(config_of(&EXAMPLES[8])).unwrap();
        let mut connection = envoy.connect();
        let (mut sent, mut returned) = (Vec::new(), Vec::new());
        connection.send(opening);
        sent.extend_from_slice(opening);
        for (from_client, bytes) in &chunks {
            if *from_client {
                connection.send(bytes);
                sent.extend_from_slice(bytes);
            } else {
                connection.receive(bytes);
                returned.extend_from_slice(bytes);
            }
        }
        if finish {
            connection.finish();
        }
        let denied = envoy.metrics().iter().any(|m| m.name.starts_with("tcp_guard.denied;") && m.value > 0);
        if denied {
            // Refused: closed, and not one byte of the client's reached the service.
            prop_assert!(connection.closed().is_some());
            prop_assert!(connection.upstream_received().is_empty());
        } else if connection.upstream_received() != sent.as_slice() {
            // Allowed: everything goes on, but for first bytes still too few to decide.
            prop_assert!(connection.upstream_received().is_empty() && sent.len() < tcp_guard::MAX_PREFIX);
            prop_assert!(!finish);
        }
        // What the service sent reaches the client until the connection closes.
        prop_assert!(returned.starts_with(connection.client_received()));
        if connection.closed().is_none() {
            prop_assert_eq!(connection.client_received(), returned.as_slice());
        }
    }
}
