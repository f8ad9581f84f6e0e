//! A whole header map read in one call, in a real Envoy on both targets: on Wasm Envoy
//! serializes the map and the SDK decodes it; natively the SDK reads Envoy's header slots
//! straight into its list. Either way a repeated header keeps every value, in order.

use envoy_tests::{Plugin, on_both_targets, serve_with};

on_both_targets! {
    /// The probe's `repeated` mode: `get` gives the first value, `get_all` (a read of the
    /// whole map) every value, as the upstream sees them.
    fn a_repeated_header_keeps_every_value_in_order() {
        let (upstream, envoy) = serve_with(&Plugin::new("probe"), None);
        let response = envoy
            .http1()
            .get(envoy.url("/maps"))
            .header("x-probe", "repeated")
            .header("x-rep", "a")
            .header("x-rep", "b")
            .header("x-rep", "c c")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let seen = upstream.last_request().expect("the request went upstream");
        assert_eq!(seen.header("x-rep-first"), Some("a"));
        assert_eq!(seen.header("x-rep-all"), Some("a|b|c c"));
    }
}
