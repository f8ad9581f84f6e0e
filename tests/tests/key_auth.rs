//! key_auth in a real Envoy, from the example's own envoy.yaml: a Higress key-auth
//! configuration (consumers, keys in headers and the query, rules by route, domain and an
//! Istio-named service) gives the replies Higress gives, over HTTP/1.1 and HTTP/2.

use envoy_tests::{Envoy, Reply, Upstream, on_both_targets};

const CONSUMER1: &str = "2bda943c-ba2b-11ec-ba07-00163e1250b5";
const CONSUMER2: &str = "c8c8e9ca-558e-4a2d-bb62-e700dcc40e35";

on_both_targets! {
    fn a_higress_configuration_runs_as_it_is() {
        let upstream = Upstream::start();
        let orders = Upstream::start_with(|_| Reply::status(200).header("x-served-by", "orders"));
        let envoy = Envoy::start_example_with_service("key_auth", &upstream, Some(&orders))
            .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));

        for (client, http1) in [(envoy.http1(), true), (envoy.http2(), false)] {
            let get = |host: &str, path: &str, key: Option<(&str, &str)>| {
                let mut request = client.get(envoy.url(path)).header("host", host);
                if let Some((name, value)) = key {
                    request = request.header(name, value);
                }
                // A client's own consumer header must never reach the upstream.
                request.header("x-mse-consumer", "forged").send().unwrap()
            };

            // Route `admin`: consumer1 only, by header or by query parameter.
            let admitted = get("shop.test", "/admin", Some(("x-api-key", CONSUMER1)));
            assert_eq!(admitted.status(), 200);
            let seen = upstream.last_request().unwrap();
            assert_eq!(seen.path, "/admin");
            assert_eq!(seen.header_all("x-mse-consumer"), ["consumer1"]);

            // in_header is on, so the query is not read (Higress looks in one place).
            let by_query = get("shop.test", &format!("/admin?apikey={CONSUMER1}"), None);
            assert_eq!(by_query.status(), 401);

            let other_consumer = get("shop.test", "/admin", Some(("apikey", CONSUMER2)));
            assert_eq!(other_consumer.status(), 403);
            assert_eq!(
                other_consumer.headers()["www-authenticate"],
                "Key realm=MSE Gateway"
            );
            assert_eq!(
                other_consumer.text().unwrap(),
                "Request denied by Key Auth check. Unauthorized consumer.\n"
            );

            let no_key = get("shop.test", "/admin", None);
            assert_eq!(no_key.status(), 401);
            assert_eq!(
                no_key.headers()["www-authenticate"],
                "Key realm=MSE Gateway"
            );
            assert_eq!(
                no_key.text().unwrap(),
                "Request denied by Key Auth check. No API key found in request.\n"
            );

            let wrong_key = get("shop.test", "/admin", Some(("x-api-key", "guess")));
            assert_eq!(wrong_key.status(), 403);
            assert_eq!(wrong_key.headers()["www-authenticate"], "Key realm=MSE Gateway");
            assert!(wrong_key.text().unwrap().contains("Invalid API key"));

            let two_keys = get("shop.test", "/admin?x=1", Some(("x-api-key", CONSUMER1)));
            assert_eq!(two_keys.status(), 200, "one key in the headers");
            let two_headers = client
                .get(format!("http://127.0.0.1:{}/admin", envoy.port()))
                .header("host", "shop.test")
                .header("x-api-key", CONSUMER1)
                .header("apikey", CONSUMER2)
                .send()
                .unwrap();
            assert_eq!(two_headers.status(), 401);
            assert!(two_headers.text().unwrap().contains("Multiple API keys"));


            // Domains `*.example.com`, `api.test`: consumer2 only, whatever the port. (Over
            // HTTP/2 the client takes `:authority` from the URL, so only HTTP/1.1 can name
            // another host here.)
            if http1 {
                let domain = get("a.example.com:8443", "/x", Some(("x-api-key", CONSUMER2)));
                assert_eq!(domain.status(), 200);
                assert_eq!(
                    upstream.last_request().unwrap().header("x-mse-consumer"),
                    Some("consumer2")
                );
                assert_eq!(
                    get("api.test", "/x", Some(("x-api-key", CONSUMER1))).status(),
                    403
                );
            }

            // Service `orders.shop.svc.cluster.local:8081`, the Istio-named cluster of route
            // `orders`: both consumers.
            for (key, name) in [(CONSUMER1, "consumer1"), (CONSUMER2, "consumer2")] {
                let order = get("shop.test", "/orders/7", Some(("x-api-key", key)));
                assert_eq!(order.status(), 200);
                assert_eq!(order.headers()["x-served-by"], "orders");
                assert_eq!(
                    orders.last_request().unwrap().header("x-mse-consumer"),
                    Some(name)
                );
            }
            assert_eq!(get("shop.test", "/orders/7", None).status(), 401);

            // No rule matches and global_auth is not set: no authentication, and the forged
            // consumer header is gone.
            let public = get("shop.test", "/public", None);
            assert_eq!(public.status(), 200);
            let seen = upstream.last_request().unwrap();
            assert_eq!(seen.path, "/public");
            assert_eq!(seen.header("x-mse-consumer"), None);
        }
        assert!(envoy.log().contains("consumer \"consumer1\" authenticated"));
    }

    fn a_bad_configuration_is_refused_at_startup_naming_the_field() {
        let upstream = Upstream::start();
        let config =
            std::fs::read_to_string(envoy_tests::project_root().join("examples/key_auth/envoy.yaml"))
                .unwrap()
                .replace(r#""allow": ["consumer2"]"#, r#""allow": ["consumer3"]"#);
        let exited = match Envoy::start_config(
            &envoy_tests::with_free_ports(&config, &upstream),
            &envoy_tests::project_root().join("examples/key_auth"),
        ) {
            Ok(_) => panic!("Envoy should refuse the configuration"),
            Err(exited) => exited,
        };
        assert!(
            exited
                .rejection()
                .contains(r#"field `_rules_[1].allow[0]`: no consumer is named "consumer3""#),
            "{}",
            exited.log
        );
    }

    fn a_configuration_that_would_let_everything_through_is_refused() {
        for (config, wanted) in [
            ("", "no configuration"),
            ("{}", "field `consumers`: missing"),
            ("null", "no configuration"),
            (r#"{"_rules_": []}"#, "field `_rules_`"),
        ] {
            let upstream = Upstream::start();
            let exited =
                Envoy::start_rejected(&envoy_tests::Plugin::new("key_auth").config(config), &upstream);
            assert!(exited.rejection().contains(wanted), "{config:?}: {}", exited.log);
            assert!(upstream.requests().is_empty());
        }
    }
}
