//! The edges users hit, in a real Envoy and on the emulator: a configuration of several
//! MiB is taken; a deeply nested one is refused with a clear reason, never a stack overflow
//! or a trap (the typed parser stops at the first level that does not fit the type, so
//! nesting never recurses far); a body over the buffer limit (1 MiB, Envoy's default) is
//! answered 413 whether or not it announces its length, and never reaches the upstream
//! whole; request headers over Envoy's 60 KiB limit never reach the filter (431 on
//! HTTP/1.1, a reset stream on HTTP/2); a callout response over what the call allows (1
//! MiB by default) is not read, and the filter fails closed.

use envoy_tests::{Envoy, Plugin, Reply, Upstream, serve, serve_with};
use envoy_wasm_sdk::testing::{Emulator, Request, Response};
use std::io::Read;

/// http_routing with `rules` never matching plus the default: about 4 MiB of JSON.
fn large_routing_config() -> String {
    let rules: Vec<String> = (0..40_000)
        .map(|i| {
            format!(
                r#"{{"match": {{"route": "never-{i:05}", "authority": "never-{i:05}.example.com"}}, "config": {{"tag": "rule-{i:05}"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"default": {{"tag": "default"}}, "rules": [{}]}}"#,
        rules.join(",")
    )
}

/// http_headers with a `set` list nested 10,000 arrays deep.
fn deeply_nested_config() -> String {
    let depth = 10_000;
    format!(
        r#"{{"request": {{"set": {}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[test]
fn a_configuration_of_several_mib_is_taken_in_envoy_and_on_the_emulator() {
    let config = large_routing_config();
    assert!(config.len() > 4 << 20, "{} bytes", config.len());

    let emulator = Emulator::new(http_routing::register_plugin);
    emulator.configure(&config).unwrap();
    let exchange = emulator.send(Request::get("/"));
    assert_eq!(
        exchange.upstream().header("x-routing-rule"),
        Some("default")
    );
    drop(emulator);

    let (_upstream, envoy) = serve(&Plugin::new("http_routing").config(config));
    let response = envoy.http1().get(envoy.url("/")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-routing-rule"], "default");
}

#[test]
fn a_deeply_nested_configuration_is_refused_with_a_reason() {
    let config = deeply_nested_config();

    let reason = "field `request.set[0][0]`: invalid type: sequence, expected a string";
    let refused = Emulator::new(http_headers::register_plugin)
        .configure(&config)
        .unwrap_err();
    assert!(refused.to_string().contains(reason), "{refused}");

    let upstream = Upstream::start();
    let exited = Envoy::start_rejected(&Plugin::new("http_headers").config(config), &upstream);
    let line = exited.rejection();
    assert!(line.contains(reason), "{line}");
    assert!(!exited.log.contains("panicked"), "{}", exited.log);
}

/// A JSON body of about `size` bytes.
fn json_body(size: usize) -> String {
    format!(r#"{{"password": "p", "pad": "{}"}}"#, "x".repeat(size))
}

/// A body the client streams without announcing its length (chunked on HTTP/1.1).
struct Unannounced(std::io::Cursor<Vec<u8>>);

impl Read for Unannounced {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(out)
    }
}

#[test]
fn a_body_over_the_buffer_limit_is_answered_413_and_never_reaches_the_upstream() {
    const LIMITED: &str = r#"{"redact": ["password"], "max_body_bytes": 1048576}"#;
    let body = json_body(3_000_000);

    let emulator = Emulator::new(http_body::register_plugin);
    emulator.configure(LIMITED).unwrap();
    let chunks: Vec<Vec<u8>> = body
        .as_bytes()
        .chunks(64 * 1024)
        .map(<[u8]>::to_vec)
        .collect();
    let exchange = emulator.send(
        Request::post("/", Vec::new())
            .header("content-type", "application/json")
            .chunks(chunks),
    );
    assert!(!exchange.reached_upstream());
    assert_eq!(exchange.response().status(), Some(413));
    drop(emulator);

    let (upstream, envoy) = serve(&Plugin::new("http_body").config(LIMITED));
    for (client, version) in [(envoy.http1(), "HTTP/1.1"), (envoy.http2(), "HTTP/2")] {
        let announced = client
            .post(envoy.url("/"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(announced.status(), 413, "with content-length, {version}");
        let streamed = client
            .post(envoy.url("/"))
            .header("content-type", "application/json")
            .body(reqwest::blocking::Body::new(Unannounced(
                std::io::Cursor::new(body.clone().into_bytes()),
            )))
            .send();
        // Envoy may answer and close before the client has sent it all; then the client
        // sees the connection end, and the filter's 413 is in Envoy's log.
        match streamed {
            Ok(response) => assert_eq!(response.status(), 413, "without length, {version}"),
            Err(error) => assert!(error.is_body() || error.is_request(), "{error}"),
        }
    }
    // Without a length the headers may go on before the body is judged; the body never
    // arrives whole.
    assert!(
        upstream.requests().iter().all(|seen| !seen.complete),
        "no whole request reached the upstream"
    );
    let answered = envoy
        .log()
        .matches("body larger than 1048576 bytes (answering 413)")
        .count();
    assert_eq!(
        answered,
        4,
        "the filter answered each of the 4 requests:\n{}",
        envoy.log()
    );
}

#[test]
fn request_headers_over_the_limit_never_reach_the_filter() {
    let big = "v".repeat(1000);

    let emulator = Emulator::new(hello_world::register_plugin);
    emulator.configure("").unwrap();
    let request = (0..100).fold(Request::get("/"), |r, i| {
        r.header(&format!("x-big-{i}"), &big)
    });
    let exchange = emulator.send(request);
    assert!(!exchange.reached_upstream());
    assert_eq!(exchange.response().status(), Some(431));
    assert!(exchange.actions().is_empty(), "the filter was not called");
    drop(emulator);

    let (upstream, envoy) = serve(&Plugin::new("hello_world"));
    let with_big_headers = |client: &reqwest::blocking::Client| {
        (0..100).fold(client.get(envoy.url("/")), |r, i| {
            r.header(format!("x-big-{i}"), &big)
        })
    };
    let http1 = with_big_headers(envoy.http1()).send().unwrap();
    assert_eq!(http1.status(), 431);
    assert!(
        with_big_headers(envoy.http2()).send().is_err(),
        "HTTP/2 resets the stream"
    );
    assert!(upstream.requests().is_empty());
    assert!(
        !envoy.log().contains("hello_world: GET /"),
        "the filter saw nothing"
    );
}

#[test]
fn a_callout_response_over_the_limit_is_not_read_and_the_filter_fails_closed() {
    const CONFIG: &str = r#"{"cluster": "service", "timeout_ms": 2000}"#;
    let huge = "x".repeat(2 << 20);

    let emulator = Emulator::new(http_auth::register_plugin);
    emulator.configure(CONFIG).unwrap();
    let body = huge.clone();
    emulator.answer_http_calls(move |_| Response::ok().body(body.clone()).into());
    let exchange = emulator.send(Request::get("/").header("authorization", "Bearer good"));
    assert!(!exchange.reached_upstream());
    assert_eq!(exchange.response().status(), Some(503));
    assert!(
        emulator.logged("more than the 1048576 allowed"),
        "{:?}",
        emulator.logs()
    );
    drop(emulator);

    let service = Upstream::start_with(move |_| Reply::status(200).body(huge.clone()));
    let (upstream, envoy) = serve_with(&Plugin::new("http_auth").config(CONFIG), Some(&service));
    for client in [envoy.http1(), envoy.http2()] {
        let response = client
            .get(envoy.url("/"))
            .header("authorization", "Bearer good")
            .send()
            .unwrap();
        assert_eq!(response.status(), 503);
    }
    assert!(upstream.requests().is_empty());
    assert!(
        envoy.log().contains("more than the 1048576 allowed"),
        "{}",
        envoy.log()
    );
}
