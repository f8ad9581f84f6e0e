//! http_routing in a real Envoy: rules per route and authority, a rewrite that Envoy routes
//! again, and typed properties as Envoy reports them.

use envoy_tests::{Plugin, Reply, Upstream, on_both_targets, serve_with};

const CONFIG: &str = r#"{
  "default": {"tag": "default", "expose": true},
  "rules": [
    {"match": {"route": "to_v2"}, "config": {"tag": "v2", "expose": true}},
    {"match": {"authority": "*.internal"}, "config": {"tag": "internal", "version_header": "x-version", "expose": true}}
  ]
}"#;

fn v2_service() -> Upstream {
    Upstream::start_with(|_| Reply::status(200).header("x-served-by", "v2"))
}

on_both_targets! {
    fn rules_follow_the_route_and_the_authority() {
        let v2 = v2_service();
        let (upstream, envoy) = serve_with(&Plugin::new("http_routing").config(CONFIG), Some(&v2));
        let plain = envoy.http1().get(envoy.url("/a")).send().unwrap();
        assert_eq!(plain.headers()["x-routing-rule"], "default");
        assert_eq!(plain.headers()["x-routing-route"], "to_upstream");
        assert_eq!(plain.headers()["x-routing-cluster"], "upstream");
        assert_eq!(
            upstream.last_request().unwrap().header("x-routing-rule"),
            Some("default")
        );

        let to_v2 = envoy.http1().get(envoy.url("/v2/a")).send().unwrap();
        assert_eq!(to_v2.headers()["x-routing-rule"], "v2");
        assert_eq!(to_v2.headers()["x-served-by"], "v2");

        let internal = envoy
            .http1()
            .get(envoy.url("/a"))
            .header("host", "billing.internal")
            .send()
            .unwrap();
        assert_eq!(internal.headers()["x-routing-rule"], "internal");
    }

    fn a_version_header_rewrites_the_path_and_envoy_routes_again() {
        let v2 = v2_service();
        let (upstream, envoy) = serve_with(&Plugin::new("http_routing").config(CONFIG), Some(&v2));
        let response = envoy
            .http1()
            .get(envoy.url("/orders"))
            .header("host", "billing.internal")
            .header("x-version", "v2")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["x-served-by"],
            "v2",
            "clear_route_cache sent it to the v2 cluster"
        );
        assert_eq!(response.headers()["x-routing-route"], "to_v2");
        assert_eq!(response.headers()["x-routing-cluster"], "service");
        assert_eq!(v2.last_request().unwrap().path, "/v2/orders");
        assert!(upstream.requests().is_empty());
        assert_eq!(
            response.headers()["x-routing-filter-state"],
            "v2",
            "set_envoy_filter_state, read back"
        );
    }

    fn typed_properties_decode_envoys_values() {
        let (_upstream, envoy) = serve_with(&Plugin::new("http_routing").config(CONFIG), None);
        for (client, protocol) in [(envoy.http1(), "HTTP/1.1"), (envoy.http2(), "HTTP/2")] {
            let response = client.get(envoy.url("/a")).send().unwrap();
            let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
            assert_eq!(header("x-routing-protocol"), protocol);
            assert_eq!(header("x-routing-code"), "200");
            let port: u16 = header("x-routing-source-port").parse().unwrap();
            assert!(port > 1024, "an ephemeral client port: {port}");
            let age: i64 = header("x-routing-request-age-ms").parse().unwrap();
            assert!(
                (0..10_000).contains(&age),
                "request.time is a recent timestamp: {age} ms ago"
            );
        }
    }
}
