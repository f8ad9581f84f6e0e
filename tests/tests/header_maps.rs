//! A whole header map read in one call, in a real Envoy on both targets: on Wasm Envoy
//! serializes the map and the SDK decodes it; natively the SDK reads Envoy's header slots
//! straight into its list (on the stack up to 32 headers, on the heap beyond). Either way
//! a repeated header keeps every value, empty ones too, in order.

use envoy_tests::{Plugin, on_both_targets, serve_with};

on_both_targets! {
    /// The probe's `repeated` mode: `get` gives the first value, `get_all` (a read of the
    /// whole map, here of more than 32 headers) every value, as the upstream sees them.
    fn a_repeated_header_keeps_every_value_in_order() {
        let (upstream, envoy) = serve_with(&Plugin::new("probe"), None);
        let mut request = envoy
            .http1()
            .get(envoy.url("/maps"))
            .header("x-probe", "repeated")
            .header("x-rep", "a")
            .header("x-rep", "")
            .header("x-rep", "c c");
        for i in 0..40 {
            request = request.header(format!("x-fill-{i}"), "v".repeat(i));
        }
        let response = request.send().unwrap();
        assert_eq!(response.status(), 200);
        let seen = upstream.last_request().expect("the request went upstream");
        assert_eq!(seen.header("x-rep-first"), Some("a"));
        assert_eq!(seen.header("x-rep-all"), Some("a||c c"));
        assert_eq!(seen.header("x-fill-39").map(str::len), Some(39));
    }
}
