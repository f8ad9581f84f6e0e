//! key_auth on the emulator: Higress's key-auth cases (keys in headers and the query,
//! `global_auth`, rules by route, domain and service) and its configuration checks.

use envoy_wasm_sdk::testing::{Emulator, Exchange, Request, emulator_test};
use key_auth::{KeyAuthPlugin, register_plugin};

const ALICE: &str = "2bda943c-ba2b-11ec-ba07-00163e1250b5";
const BOB: &str = "c8c8e9ca-558e-4a2d-bb62-e700dcc40e35";

/// Consumers and keys, plus whatever `more` adds (JSON members, comma-led).
fn config(more: &str) -> String {
    format!(
        r#"{{
  "consumers": [
    {{"name": "alice", "credential": "{ALICE}"}},
    {{"name": "bob", "credential": "{BOB}"}}
  ],
  "keys": ["x-api-key", "apikey"]{more}
}}"#
    )
}

/// The rules the README shows: a route for alice, domains for bob, a service for both.
fn with_rules(more: &str) -> String {
    config(&format!(
        r#",
  "in_header": true,
  "in_query": true{more},
  "_rules_": [
    {{"_match_route_": ["admin"], "allow": ["alice"]}},
    {{"_match_domain_": ["*.example.com", "api.test"], "allow": ["bob"]}},
    {{"_match_service_": ["orders.shop.svc.cluster.local:8081"], "allow": ["alice", "bob"]}}
  ]"#
    ))
}

/// An emulator routing as the example's `envoy.yaml` does.
fn envoy(config: &str) -> Emulator {
    let envoy = Emulator::new(register_plugin);
    envoy.configure(config).unwrap_or_else(|e| panic!("{e}"));
    envoy.set_path_router(|path| {
        let (route, cluster) = if path.starts_with(b"/admin") {
            ("admin", "upstream")
        } else if path.starts_with(b"/orders") {
            ("orders", "outbound|8081||orders.shop.svc.cluster.local")
        } else {
            ("default", "upstream")
        };
        (route.into(), cluster.into())
    });
    envoy
}

/// The status, and the consumer the upstream was told (for a request that reached it).
fn outcome(exchange: &Exchange) -> (u16, Option<String>) {
    let status = exchange.response().status().unwrap_or(0);
    let consumer = exchange
        .reached_upstream()
        .then(|| {
            exchange
                .upstream()
                .header("x-mse-consumer")
                .map(str::to_owned)
        })
        .flatten();
    (status, consumer)
}

fn ok(consumer: &str) -> (u16, Option<String>) {
    (200, Some(consumer.to_owned()))
}

#[emulator_test]
fn without_rules_every_request_needs_a_known_key() {
    let envoy = envoy(&config(r#", "in_header": true"#));
    let send = |request: Request| outcome(&envoy.send(request));
    assert_eq!(
        send(Request::get("/").header("x-api-key", ALICE)),
        ok("alice")
    );
    assert_eq!(send(Request::get("/").header("apikey", BOB)), ok("bob"));

    let missing = envoy.send(Request::get("/"));
    assert_eq!(missing.response().status(), Some(401));
    assert_eq!(
        missing.response().header("www-authenticate"),
        Some("Key realm=MSE Gateway")
    );
    assert_eq!(
        missing.response().body_text(),
        "Request denied by Key Auth check. No API key found in request.\n"
    );
    assert_eq!(
        missing.local_reply().map(|r| r.details.as_str()),
        Some("key_auth.no_key")
    );

    // A key no consumer has: 403, as Higress answers it, with the challenge too.
    let unknown = envoy.send(Request::get("/").header("x-api-key", "guess"));
    assert_eq!(unknown.response().status(), Some(403));
    assert_eq!(
        unknown.response().header("www-authenticate"),
        Some("Key realm=MSE Gateway")
    );
    assert!(unknown.response().body_text().contains("Invalid API key"));
    assert!(envoy.logged("a key no consumer has"));

    // Two different keys: which one counts is not the filter's to guess.
    let two = envoy.send(
        Request::get("/")
            .header("x-api-key", ALICE)
            .header("apikey", BOB),
    );
    assert_eq!(two.response().status(), Some(401));
    assert!(two.response().body_text().contains("Multiple API keys"));
    // The same key twice is two keys, as in Higress.
    let twice = Request::get("/")
        .header("x-api-key", ALICE)
        .header("apikey", ALICE);
    assert_eq!(send(twice).0, 401);
    // Of a repeated header, the first value is the key (Envoy's single-value read).
    let repeated = Request::get("/")
        .header("x-api-key", ALICE)
        .header("x-api-key", BOB);
    assert_eq!(send(repeated), ok("alice"));
    // An empty header is no key.
    assert_eq!(send(Request::get("/").header("x-api-key", "")).0, 401);
    // in_query is off: a key in the query does not count.
    assert_eq!(send(Request::get(&format!("/?apikey={ALICE}"))).0, 401);
}

#[emulator_test]
fn the_consumer_header_is_set_never_taken_from_the_client() {
    let envoy = envoy(&with_rules(""));
    let forged = envoy.send(
        Request::get("/admin")
            .header("x-api-key", ALICE)
            .header("x-mse-consumer", "root"),
    );
    assert_eq!(forged.upstream().header_all("x-mse-consumer"), ["alice"]);
    // Where no authentication is required, the client's value is removed, not passed on.
    let unauthenticated = envoy.send(Request::get("/public").header("x-mse-consumer", "root"));
    assert!(unauthenticated.reached_upstream());
    assert!(
        unauthenticated
            .upstream()
            .header("x-mse-consumer")
            .is_none()
    );
}

#[emulator_test]
fn keys_come_from_the_query_decoded() {
    let envoy = envoy(&config(r#", "in_query": true, "in_header": false"#));
    let send = |path: &str| outcome(&envoy.send(Request::get(path)));
    assert_eq!(send(&format!("/items?apikey={ALICE}")), ok("alice"));
    assert_eq!(send(&format!("/items?x=1&x-api-key={BOB}&y")), ok("bob"));
    // Percent-decoded: `%2d` is `-`.
    let escaped = BOB.replace('-', "%2d");
    assert_eq!(send(&format!("/items?apikey={escaped}")), ok("bob"));
    assert_eq!(send("/items").0, 401);
    assert_eq!(send(&format!("/items?apikey={ALICE}&apikey={BOB}")).0, 401);
    // A bad escape is refused as such, never read as "no key" or skipped.
    let bad = envoy.send(Request::get(&format!("/items?apikey={ALICE}%zz")));
    assert_eq!(bad.response().status(), Some(400));
    assert!(!bad.reached_upstream());
    // A bad escape in the path is not the query's: the key is still read.
    assert_eq!(send(&format!("/a%zz?apikey={ALICE}")), ok("alice"));
    // A header does not count when in_header is false.
    let header = envoy.send(Request::get("/items").header("x-api-key", ALICE));
    assert_eq!(header.response().status(), Some(401));
}

#[emulator_test]
fn rules_allow_consumers_by_route_domain_and_service() {
    let envoy = envoy(&with_rules(""));
    let send = |host: &str, path: &str, key: Option<&str>| {
        let mut request = Request::get(path).header(":authority", host);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        outcome(&envoy.send(request))
    };
    // Route `admin`: alice only.
    assert_eq!(send("shop.test", "/admin", Some(ALICE)), ok("alice"));
    assert_eq!(send("shop.test", "/admin", Some(BOB)).0, 403);
    assert_eq!(send("shop.test", "/admin", None).0, 401);
    // The route rule comes before the domain rule, whatever the host.
    assert_eq!(send("a.example.com", "/admin", Some(BOB)).0, 403);
    // Domains: bob only; the port does not count.
    assert_eq!(send("a.example.com:8443", "/x", Some(BOB)), ok("bob"));
    assert_eq!(send("api.test", "/x", Some(ALICE)).0, 403);
    // Service `orders` (Istio cluster `outbound|8081||orders...`): both.
    assert_eq!(send("shop.test", "/orders", Some(ALICE)), ok("alice"));
    assert_eq!(send("shop.test", "/orders", Some(BOB)), ok("bob"));
    // Nothing matches and global_auth is not set: no authentication.
    assert_eq!(send("shop.test", "/public", None), (200, None));
    let forbidden = envoy.send(
        Request::get("/admin")
            .header(":authority", "shop.test")
            .header("x-api-key", BOB),
    );
    assert_eq!(
        forbidden.response().body_text(),
        "Request denied by Key Auth check. Unauthorized consumer.\n"
    );
    assert_eq!(
        forbidden.response().header("www-authenticate"),
        Some("Key realm=MSE Gateway"),
        "every denial carries the challenge, as in Higress"
    );
}

#[emulator_test]
fn the_first_matching_rule_in_list_order_applies() {
    // A domain rule for bob listed before a route rule for alice: on route `admin` of
    // a.example.com the domain rule applies, as Higress's matcher walks the list.
    let rules = config(
        r#",
  "in_header": true,
  "_rules_": [
    {"_match_domain_": ["*.example.com"], "allow": ["bob"]},
    {"_match_route_": ["admin"], "allow": ["alice"]}
  ]"#,
    );
    let envoy = envoy(&rules);
    let send = |host: &str, key: &str| {
        let request = Request::get("/admin")
            .header(":authority", host)
            .header("x-api-key", key);
        outcome(&envoy.send(request))
    };
    assert_eq!(send("a.example.com", BOB), ok("bob"));
    assert_eq!(send("a.example.com", ALICE).0, 403);
    assert_eq!(send("shop.test", ALICE), ok("alice"));
    assert_eq!(send("shop.test", BOB).0, 403);
}

#[emulator_test]
fn headers_win_over_the_query_when_both_are_on() {
    let envoy = envoy(&config(r#", "in_header": true, "in_query": true"#));
    let send = |request: Request| outcome(&envoy.send(request));
    // The query is not read when in_header is on, as in Higress.
    assert_eq!(send(Request::get(&format!("/?apikey={ALICE}"))).0, 401);
    let both = Request::get(&format!("/?apikey={ALICE}")).header("x-api-key", BOB);
    assert_eq!(send(both), ok("bob"));
}

#[emulator_test]
fn a_configuration_that_would_let_everything_through_is_refused() {
    for (empty, field) in [
        ("", None),
        ("{}", Some("consumers")),
        ("null", None),
        (r#"{"_rules_": []}"#, Some("_rules_")),
    ] {
        let envoy = Emulator::new(register_plugin);
        let failed = envoy
            .configure(empty)
            .expect_err(&format!("refuses {empty:?}"));
        match field {
            Some(field) => assert_eq!(failed.field_path(), Some(field), "{empty:?}: {failed}"),
            None => assert!(failed.to_string().contains("no configuration"), "{failed}"),
        }
    }
}

#[emulator_test]
fn global_auth_decides_for_requests_no_rule_matches() {
    let send = |envoy: &Emulator, key: Option<&str>| {
        let mut request = Request::get("/public").header(":authority", "shop.test");
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        outcome(&envoy.send(request))
    };
    let on = envoy(&with_rules(r#", "global_auth": true"#));
    assert_eq!(send(&on, None).0, 401);
    assert_eq!(send(&on, Some(BOB)), ok("bob"));
    // A matched rule still applies its allow list.
    let admin = on.send(
        Request::get("/admin")
            .header(":authority", "shop.test")
            .header("x-api-key", BOB),
    );
    assert_eq!(admin.response().status(), Some(403));
    drop(on);

    let off = envoy(&with_rules(r#", "global_auth": false"#));
    assert_eq!(send(&off, None), (200, None));
    drop(off);
    // Without rules, global_auth false authenticates nothing.
    let off_without_rules = envoy(&config(r#", "in_header": true, "global_auth": false"#));
    assert_eq!(send(&off_without_rules, None), (200, None));
}

// Reads the configured plugin, which lives inside the VM on the wasm backend: native only.
#[test]
fn the_emulator_shows_the_configuration_it_runs() {
    use envoy_wasm_sdk::higress::{Matched, RequestFacts};
    let envoy = envoy(&with_rules(r#", "realm": "shop""#));
    let plugin = envoy.plugin::<KeyAuthPlugin>().expect("configured");
    let rules = plugin.rules();
    assert_eq!(rules.len(), 3);
    let on_domain = RequestFacts {
        host: Some("a.example.com".into()),
        ..RequestFacts::default()
    };
    match rules.matching(&on_domain) {
        Matched::Rule { index, config } => {
            assert_eq!(index, 1);
            assert_eq!(config.allow.as_deref(), Some(&["bob".to_owned()][..]));
            // Inherited from the global fields.
            assert_eq!(config.keys, ["x-api-key", "apikey"]);
            assert_eq!(config.realm, "shop");
        }
        other => panic!("{other:?}"),
    }
}

#[emulator_test]
fn bad_configurations_are_refused_naming_the_field() {
    let cases = [
        (
            r#"{"consumers": [], "keys": ["k"], "in_header": true}"#,
            "consumers",
            "must not be empty",
        ),
        (
            r#"{"keys": ["k"], "in_header": true}"#,
            "consumers",
            "missing",
        ),
        (&config(""), "in_header", "give in_header or in_query"),
        (
            &config(r#", "in_header": false, "in_query": false"#),
            "in_header",
            "both false",
        ),
        (
            r#"{"consumers": [{"name": "a", "credential": "k"}], "keys": [], "in_header": true}"#,
            "keys",
            "must not be empty",
        ),
        (
            r#"{"consumers": [{"name": "a", "credential": "k"}, {"name": "b", "credential": "k"}], "keys": ["x"], "in_header": true}"#,
            "consumers[1].credential",
            "is also consumers[0]'s",
        ),
        (
            r#"{"consumers": [{"name": "", "credential": "k"}], "keys": ["x"], "in_header": true}"#,
            "consumers[0].name",
            "must not be empty",
        ),
        (
            r#"{"consumers": [{"name": "a", "credential": "k"}], "keys": ["bad key"], "in_header": true}"#,
            "keys[0]",
            "not a valid header name",
        ),
        (
            &with_rules("").replace(r#""allow": ["bob"]"#, r#""allow": []"#),
            "_rules_[1].allow",
            "must not be empty",
        ),
        (
            &with_rules("").replace(r#", "allow": ["bob"]"#, ""),
            "_rules_[1].allow",
            "missing",
        ),
        (
            &with_rules("").replace(r#""allow": ["bob"]"#, r#""allow": ["carol"]"#),
            "_rules_[1].allow[0]",
            "no consumer is named \"carol\"",
        ),
        (
            &with_rules("").replace(r#""allow": ["bob"]"#, r#""allow": "bob""#),
            "_rules_[1].allow",
            "invalid type",
        ),
        (
            &with_rules("").replace(r#""_match_domain_""#, r#""_match_domains_""#),
            "_rules_[1]",
            "_match_route_",
        ),
        (
            &with_rules(r#", "allow": ["alice"]"#),
            "allow",
            "belongs in a rule",
        ),
        (
            &with_rules(r#", "realm": "a\r\nb""#),
            "realm",
            "CR, LF or NUL",
        ),
        (
            &with_rules(r#", "globalauth": true"#),
            "globalauth",
            "unknown field `globalauth`",
        ),
    ];
    for (config, field, message) in cases {
        let envoy = Emulator::new(register_plugin);
        let failed = envoy
            .configure(config)
            .expect_err(&format!("refuses {config}"));
        assert_eq!(failed.field_path().unwrap_or_default(), field, "{failed}");
        assert!(failed.to_string().contains(message), "{failed}");
    }
}
