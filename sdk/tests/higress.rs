//! Higress-shaped configs on the emulator: the rule picked from Envoy's route, host and
//! cluster as the filter reads them.

use envoy_wasm_sdk::higress::{HigressRules, Matched, RequestFacts};
use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::testing::{Emulator, Request};
use serde::Deserialize;
use std::rc::Rc;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Tagging {
    tag: String,
}

mod tagger {
    use super::*;

    pub struct Tagger {
        pub rules: HigressRules<Tagging>,
    }

    impl Plugin for Tagger {
        type Config = serde_json::Value;
        type Filter = Tag;
        fn configure(
            config: serde_json::Value,
            _ctx: &mut ConfigureOps<Self>,
        ) -> Result<Self, ConfigError> {
            Ok(Tagger {
                rules: HigressRules::parse(&config)?,
            })
        }
        fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<Tag> {
            Some(Tag { plugin: self })
        }
    }

    pub struct Tag {
        plugin: Rc<Tagger>,
    }

    #[http_filter]
    impl HttpFilter for Tag {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let facts = RequestFacts::read(req)?;
            let tag = match self.plugin.rules.matching(&facts) {
                Matched::Rule { config, .. } | Matched::Global(config) => config.tag.clone(),
                Matched::Nothing => return Ok(Action::Continue),
            };
            req.headers().set("x-tag", tag)?;
            Ok(Action::Continue)
        }
    }

    envoy_wasm_sdk::entry!(Tagger);
}

const CONFIG: &str = r#"{
  "_rules_": [
    {"_match_domain_": ["*.example.com"], "tag": "domain"},
    {"_match_service_": ["orders.shop.svc.cluster.local"], "tag": "service"},
    {"_match_route_": ["checkout"], "tag": "route"}
  ]
}"#;

fn tag(envoy: &Emulator, host: &str, path: &str) -> Option<String> {
    let exchange = envoy.send(Request::get(path).header(":authority", host));
    exchange.upstream().header("x-tag").map(str::to_owned)
}

#[test]
fn a_higress_config_picks_its_rule_from_what_envoy_knows() {
    let envoy = Emulator::new(tagger::register_plugin);
    envoy.configure(CONFIG).expect("configures");
    // As Envoy routes: /checkout by route name, /orders to an Istio-named cluster.
    envoy.set_path_router(|path| match path {
        b"/checkout" => (
            "checkout".into(),
            "outbound|80||web.shop.svc.cluster.local".into(),
        ),
        b"/orders" => (
            "orders".into(),
            "outbound|8080||orders.shop.svc.cluster.local".into(),
        ),
        _ => (
            "other".into(),
            "outbound|80||web.shop.svc.cluster.local".into(),
        ),
    });
    // The rules are walked in list order: the domain rule comes before the route rule.
    assert_eq!(
        tag(&envoy, "a.example.com", "/checkout").as_deref(),
        Some("domain")
    );
    assert_eq!(
        tag(&envoy, "shop.test", "/checkout").as_deref(),
        Some("route")
    );
    assert_eq!(
        tag(&envoy, "a.example.com:8443", "/orders").as_deref(),
        Some("domain")
    );
    assert_eq!(
        tag(&envoy, "shop.test", "/orders").as_deref(),
        Some("service")
    );
    // Nothing matches and there is no global config: the filter does nothing.
    assert_eq!(tag(&envoy, "shop.test", "/other"), None);
    // `route_name` (Higress's Envoy) is not what upstream Envoy has: a route rule still
    // works from `xds.route_name`, and `route_name` counts only where the host has it.
    envoy.set_property(&["route_name"], "checkout");
    assert_eq!(tag(&envoy, "shop.test", "/other"), None);
    envoy.declare_host_attribute(&["route_name"]);
    assert_eq!(tag(&envoy, "shop.test", "/other").as_deref(), Some("route"));
}

#[test]
fn a_bad_rule_is_refused_naming_it() {
    let envoy = Emulator::new(tagger::register_plugin);
    let failed = envoy
        .configure(r#"{"_rules_": [{"_match_route_": ["r"], "tag": "t"}, {"_match_domain_": ["x"], "tag": 1}]}"#)
        .unwrap_err();
    assert_eq!(failed.field_path(), Some("_rules_[1].tag"));
}
