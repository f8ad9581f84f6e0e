//! Client input copied into headers cannot split a message. The `probe` filter echoes the
//! query parameter `v` (percent-decoded) into a request and a response header, as a
//! careless filter would; the SDK refuses a value with CR LF before it reaches Envoy, so
//! the filter's `?` answers its own error reply (500) and nothing is injected, over
//! HTTP/1.1 and HTTP/2.

use envoy_tests::{Plugin, SeenRequest, serve};

const ATTACK: &str = "/echo?v=a%0d%0aset-cookie:%20evil=1";

#[test]
fn a_value_with_cr_lf_is_refused_and_nothing_is_injected() {
    let (upstream, envoy) = serve(&Plugin::new("probe"));
    for (client, version) in [
        (envoy.http1(), reqwest::Version::HTTP_11),
        (envoy.http2(), reqwest::Version::HTTP_2),
    ] {
        // `echo`: into a request header, refused before the request goes upstream;
        // `echo-response`: into a response header (response splitting), where the reply
        // replaces the upstream's response.
        for mode in ["echo", "echo-response"] {
            let before = upstream.requests().len();
            let response = client
                .get(envoy.url(ATTACK))
                .header("x-probe", mode)
                .send()
                .unwrap();
            let at = format!("{mode}, {version:?}");
            assert_eq!(response.version(), version);
            assert_eq!(response.status(), 500, "the filter's error reply, {at}");
            for injected in ["set-cookie", "x-echo", "x-upstream"] {
                assert!(
                    response.headers().get(injected).is_none(),
                    "{injected}, {at}"
                );
            }
            if mode == "echo" {
                assert_eq!(
                    upstream.requests().len(),
                    before,
                    "nothing went upstream, {at}"
                );
            }
        }
    }
    assert!(
        envoy.wait_for_log("header `x-echo` refused: the value holds CR"),
        "{}",
        envoy.log()
    );
}

#[test]
fn a_clean_value_is_echoed_both_ways() {
    let (_upstream, envoy) = serve(&Plugin::new("probe"));
    for client in [envoy.http1(), envoy.http2()] {
        let response = client
            .get(envoy.url("/echo?v=hello%20world"))
            .header("x-probe", "echo")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-echo"], "hello world");
        let seen: SeenRequest = response.json().unwrap();
        assert_eq!(seen.header("x-echo"), Some("hello world"));
    }
}
