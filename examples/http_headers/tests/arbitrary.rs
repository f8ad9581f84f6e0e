//! http_headers on the emulator with arbitrary requests: odd header bytes, repeated and
//! hundreds of headers, bodies in arbitrary chunks, trailers, early end of stream. The
//! only outcomes are the ones the filter defines: the request goes on with the rules
//! applied, or it is answered 400 for a missing `x-api-key`. Never a panic or a trap.

use envoy_wasm_sdk::testing::{Emulator, Request, Response};
use http_headers::register_plugin;
use proptest::collection::vec;
use proptest::prelude::*;

const RULES: &str = include_str!("rules.json");

/// Header names as clients send them (mixed case, odd but printable) and a few that matter.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,24}",
        Just("x-api-key".to_string()),
        Just("x-internal".to_string()),
        Just("x-env".to_string()),
        Just("x-tag".to_string()),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        vec((name(), vec(any::<u8>(), 0..48)), 0..300),
        vec(vec(any::<u8>(), 0..512), 0..6),
        vec((name(), "[ -~]{0,16}"), 0..3),
    )
        .prop_map(|(headers, chunks, trailers)| {
            let mut request = Request::new("POST", "/arbitrary");
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

proptest! {
    // Few cases in scripts/test.sh; `PROPTEST_CASES` (scripts/fuzz.sh) asks for more.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn arbitrary_requests_get_only_the_outcomes_the_filter_defines(request in request()) {
        let envoy = Emulator::new(register_plugin);
        envoy.configure(RULES).unwrap();
        let exchange = envoy.send_with(request, Response::ok().header("x-upstream", "echo"));
        let status = exchange.response().status();
        if exchange.reached_upstream() {
            let upstream = exchange.upstream();
            prop_assert_eq!(upstream.header("x-api-key"), None);
            prop_assert_eq!(upstream.header("x-internal"), None);
            prop_assert_eq!(upstream.header_all("x-env"), ["prod"]);
            prop_assert_eq!(status, Some(200));
            prop_assert_eq!(exchange.response().header("x-frame-options"), Some("DENY"));
        } else {
            prop_assert_eq!(status, Some(400));
            prop_assert!(exchange.response().body_text().starts_with("missing required header"));
        }
    }
}
