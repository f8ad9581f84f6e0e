//! Higress's rule convention, as a typed layer over a plugin's configuration: configs
//! written for Higress (and by its console) run unchanged.
//!
//! ```json
//! {
//!   "allow": ["consumer1"],
//!   "_rules_": [
//!     {"_match_route_": ["route-a"], "allow": ["consumer2"]},
//!     {"_match_domain_": ["*.example.com", "api.test*"], "allow": []},
//!     {"_match_service_": ["orders.shop.svc.cluster.local:8080"], "allow": ["ops"]}
//!   ]
//! }
//! ```
//!
//! - The fields beside `_rules_` are the global configuration. A rule inherits them and
//!   overrides the ones it sets; each rule's result is parsed into your type, and errors
//!   name `_rules_[i].field`.
//! - Each rule has one kind, decided by what it names, as Higress's `wasm-go` matcher
//!   (`pkg/matcher/rule_matcher.go`) decides it: `_match_route_` makes a route rule (exact
//!   route names), with `_match_service_` too a route-and-service rule (both must match);
//!   else `_match_domain_` a domain rule (the request's host without its port,
//!   case-sensitive, exact, `*suffix` or `prefix*`); else `_match_service_` a service rule
//!   (`name` or `name:port`, against the Istio cluster name `outbound|port|subset|name`);
//!   else `_match_route_prefix_` a route-prefix rule. What a rule names beyond its kind is
//!   not looked at (a route rule's domains, say), as in Higress.
//! - `_rules_` are walked in list order and the first rule that matches applies, whatever
//!   its kind. Then the global configuration, if there is one. With none,
//!   [`Matched::Nothing`]: the plugin should do nothing.
//! - An empty object (`{}`, or `null`) is the global configuration `{}`, parsed into your
//!   type, which decides whether that is enough (a type with required fields refuses it,
//!   naming the first); `_rules_` with no rules and no global fields is refused. Stricter
//!   than Higress: a global field that does not parse refuses the configuration even when
//!   there are rules (Higress then ignores the global part), and `_match_consumer_` is
//!   refused (not supported).
//! - In Envoy the route and cluster come from `xds.route_name` and `xds.cluster_name`
//!   (upstream Envoy has no `route_name`; where the host has it, as Higress's Envoy does,
//!   it is used first).
//!
//! A plugin takes such a configuration as it is: `type Config = HigressRules<MyConfig>;`
//! parses it at configure time (an error names `_rules_[i].field`), [`validate`]
//! checks each configuration with the plugin's own rules, and [`select`] picks the one for
//! a request, reading from Envoy only what the rules look at. With the `schema` feature its
//! JSON Schema is `MyConfig`'s, with `_rules_` beside the fields (the fields are not
//! required there, since a rule inherits the global ones; `configure` checks them).
//!
//! [`validate`]: HigressRules::validate
//! [`select`]: HigressRules::select
//!
//! ```
//! use envoy_wasm_sdk::higress::{HigressRules, Matched, RequestFacts};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, Debug, PartialEq)]
//! struct Auth {
//!     allow: Vec<String>,
//! }
//!
//! let config = serde_json::json!({
//!     "allow": ["c1"],
//!     "_rules_": [{"_match_route_": ["r1"], "allow": ["c2"]}]
//! });
//! let rules = HigressRules::<Auth>::parse(&config).unwrap();
//! let on = |route: &str| RequestFacts { route: Some(route.into()), ..RequestFacts::default() };
//! match rules.matching(&on("r1")) {
//!     Matched::Rule { config, .. } => assert_eq!(config.allow, ["c2"]),
//!     other => panic!("{other:?}"),
//! }
//! assert!(matches!(rules.matching(&on("r2")), Matched::Global(_)));
//! ```

use crate::config::{ConfigError, parse_value};
pub use crate::routes::RequestFacts;
use crate::routes::{HostPattern, Wanted, strip_port};
use crate::{Error, RequestHeadersOps};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::rc::Rc;

const RULES: &str = "_rules_";
const MATCH_ROUTE: &str = "_match_route_";
const MATCH_ROUTE_PREFIX: &str = "_match_route_prefix_";
const MATCH_DOMAIN: &str = "_match_domain_";
const MATCH_SERVICE: &str = "_match_service_";
const MATCH_CONSUMER: &str = "_match_consumer_";

/// Which configuration applies to a request.
#[derive(Debug)]
pub enum Matched<'a, T> {
    /// Rule `index` of `_rules_` matched; `config` is the global fields overridden by it.
    Rule {
        /// Its position in `_rules_`.
        index: usize,
        /// Its configuration.
        config: &'a Rc<T>,
    },
    /// No rule matched; the global configuration applies.
    Global(&'a Rc<T>),
    /// No rule matched and there is no global configuration: do nothing.
    Nothing,
}

/// What a rule matches on: one kind per rule, as Higress decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Route,
    RouteAndService,
    Domain,
    Service,
    RoutePrefix,
}

#[derive(Debug)]
struct Rule<T> {
    kind: Kind,
    routes: Vec<String>,
    route_prefixes: Vec<String>,
    domains: Vec<HostPattern>,
    /// `(name, port)`; no port matches any.
    services: Vec<(String, Option<u16>)>,
    config: Rc<T>,
}

/// A plugin's global configuration and its `_rules_`, parsed into `T`.
#[derive(Debug)]
pub struct HigressRules<T> {
    global: Option<Rc<T>>,
    rules: Vec<Rule<T>>,
}

impl<T: DeserializeOwned> HigressRules<T> {
    /// Parses a Higress-shaped configuration.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field: `_rules_[2]._match_domain_[0]`, or a field of
    /// `T` under `_rules_[i]` (or at the top, for the global fields).
    pub fn parse(config: &Value) -> Result<HigressRules<T>, ConfigError> {
        let empty = Map::new();
        let top = match config {
            Value::Object(top) => top,
            Value::Null => &empty,
            _ => return Err(ConfigError::new("the configuration must be a JSON object")),
        };
        let mut global: Map<String, Value> = top.clone();
        let (rules, has_rules_key) = match global.remove(RULES) {
            None | Some(Value::Null) => (Vec::new(), false),
            Some(Value::Array(rules)) => (rules, true),
            Some(_) => return Err(ConfigError::field(RULES, "must be a list")),
        };
        if has_rules_key && rules.is_empty() && global.is_empty() {
            return Err(ConfigError::field(
                RULES,
                "no rules and no global configuration: nothing would apply",
            ));
        }
        // The global fields first: an error in one of them names it at the top, not in the
        // first rule that inherits it. An empty configuration is the global `{}`: the
        // plugin's type decides whether that is enough.
        let parsed_global = if global.is_empty() && has_rules_key {
            None
        } else {
            Some(Rc::new(parse_value(&Value::Object(global.clone()), "")?))
        };
        let mut parsed = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("{RULES}[{i}]");
            let Value::Object(rule) = rule else {
                return Err(ConfigError::field(at, "must be an object"));
            };
            let list = |key: &str| -> Result<Vec<String>, ConfigError> {
                match rule.get(key) {
                    None | Some(Value::Null) => Ok(Vec::new()),
                    Some(value) => parse_value(value, &format!("{at}.{key}")),
                }
            };
            if rule.contains_key(MATCH_CONSUMER) {
                return Err(ConfigError::field(
                    format!("{at}.{MATCH_CONSUMER}"),
                    "is not supported: match by route, route prefix, domain or service",
                ));
            }
            let routes = list(MATCH_ROUTE)?;
            let route_prefixes = list(MATCH_ROUTE_PREFIX)?;
            let domains: Vec<HostPattern> = list(MATCH_DOMAIN)?
                .iter()
                .map(|d| HostPattern::parse(d))
                .collect();
            let services = list(MATCH_SERVICE)?
                .iter()
                .enumerate()
                .map(|(j, service)| service_pattern(service, &format!("{at}.{MATCH_SERVICE}[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            // One kind per rule, in Higress's order of precedence.
            let kind = if !routes.is_empty() && !services.is_empty() {
                Kind::RouteAndService
            } else if !routes.is_empty() {
                Kind::Route
            } else if !domains.is_empty() {
                Kind::Domain
            } else if !services.is_empty() {
                Kind::Service
            } else if !route_prefixes.is_empty() {
                Kind::RoutePrefix
            } else {
                return Err(ConfigError::field(
                    at,
                    "matches nothing: give _match_route_, _match_route_prefix_, _match_domain_ or _match_service_",
                ));
            };
            let mut merged = global.clone();
            for (key, value) in rule {
                if !key.starts_with("_match_") {
                    merged.insert(key.clone(), value.clone());
                }
            }
            let config = parse_value(&Value::Object(merged), &at)?;
            parsed.push(Rule {
                kind,
                routes,
                route_prefixes,
                domains,
                services,
                config: Rc::new(config),
            });
        }
        Ok(HigressRules {
            global: parsed_global,
            rules: parsed,
        })
    }
}

impl<T> HigressRules<T> {
    /// The configuration for a request with these facts: the first rule in the list that
    /// matches, else the global configuration.
    pub fn matching(&self, facts: &RequestFacts) -> Matched<'_, T> {
        let host = facts.host.as_deref().map(strip_port);
        let service = facts.cluster.as_deref().and_then(istio_service);
        let route = facts.route.as_deref();
        let route_is = |rule: &Rule<T>| route.is_some_and(|r| rule.routes.iter().any(|x| x == r));
        let service_is = |rule: &Rule<T>| {
            service.as_ref().is_some_and(|(name, port)| {
                rule.services.iter().any(|(want, want_port)| {
                    want == name && want_port.is_none_or(|p| Some(p) == *port)
                })
            })
        };
        let matches = |rule: &Rule<T>| match rule.kind {
            Kind::Route => route_is(rule),
            Kind::RouteAndService => route_is(rule) && service_is(rule),
            Kind::Domain => host.is_some_and(|host| rule.domains.iter().any(|d| d.matches(host))),
            Kind::Service => service_is(rule),
            Kind::RoutePrefix => route.is_some_and(|route| {
                rule.route_prefixes
                    .iter()
                    .any(|p| route.starts_with(p.as_str()))
            }),
        };
        if let Some((index, rule)) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| matches(rule))
        {
            return Matched::Rule {
                index,
                config: &rule.config,
            };
        }
        match &self.global {
            Some(global) => Matched::Global(global),
            None => Matched::Nothing,
        }
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Checks the global configuration and each rule's with `check(config, is_rule)`.
    /// `check` names fields as they are in one configuration (`allow`); the error names
    /// where that configuration is (`_rules_[2].allow`).
    ///
    /// ```
    /// use envoy_wasm_sdk::ConfigError;
    /// use envoy_wasm_sdk::higress::HigressRules;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Auth {
    ///     allow: Option<Vec<String>>,
    /// }
    ///
    /// let config = serde_json::json!({"_rules_": [{"_match_route_": ["r"], "allow": []}]});
    /// let rules = HigressRules::<Auth>::parse(&config).unwrap();
    /// let error = rules
    ///     .validate(|auth, is_rule| match &auth.allow {
    ///         Some(allow) if is_rule && allow.is_empty() => {
    ///             Err(ConfigError::field("allow", "must not be empty"))
    ///         }
    ///         _ => Ok(()),
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(error.field_path(), Some("_rules_[0].allow"));
    /// ```
    ///
    /// # Errors
    /// The first error `check` returns, under the configuration's place.
    pub fn validate(
        &self,
        check: impl Fn(&T, bool) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        if let Some(global) = &self.global {
            check(global, false)?;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            check(&rule.config, true).map_err(|error| error.under(&format!("{RULES}[{i}]")))?;
        }
        Ok(())
    }

    /// The configuration for the request in `req` ([`matching`](Self::matching) the facts
    /// Envoy has), reading only what the rules look at: nothing when there are no rules.
    ///
    /// # Errors
    /// The host's status when Envoy refuses a read.
    pub fn select<F>(&self, req: &mut RequestHeadersOps<'_, F>) -> Result<Matched<'_, T>, Error> {
        if self.rules.is_empty() {
            return Ok(self.matching(&RequestFacts::default()));
        }
        let any = |test: fn(Kind) -> bool| self.rules.iter().any(|rule| test(rule.kind));
        let wanted = Wanted {
            route: any(|k| matches!(k, Kind::Route | Kind::RouteAndService | Kind::RoutePrefix)),
            host: any(|k| k == Kind::Domain),
            cluster: any(|k| matches!(k, Kind::RouteAndService | Kind::Service)),
        };
        Ok(self.matching(&RequestFacts::read_only(req, wanted)?))
    }
}

/// A Higress-shaped configuration is a plugin's [`Config`](crate::Plugin::Config) as it
/// is: `type Config = HigressRules<MyConfig>;`. Errors keep their field paths.
impl<'de, T: DeserializeOwned> Deserialize<'de> for HigressRules<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        HigressRules::parse(&value).map_err(serde::de::Error::custom)
    }
}

/// The schema of `T`, with `_rules_` beside its fields: each rule has `T`'s fields and the
/// `_match_*_` lists. No field is required, as a rule inherits the global fields (the
/// parse at configure time checks that each configuration is whole).
#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema> schemars::JsonSchema for HigressRules<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("HigressRules_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut top = T::json_schema(generator);
        let Some(fields) = top.as_object_mut() else {
            return schemars::json_schema!({"type": "object"});
        };
        fields.remove("required");
        let list = serde_json::json!({"type": "array", "items": {"type": "string"}});
        let mut rule = fields.clone();
        rule.remove("title");
        rule.remove("description");
        let rule_properties = rule
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(properties) = rule_properties {
            for key in [MATCH_ROUTE, MATCH_ROUTE_PREFIX, MATCH_DOMAIN, MATCH_SERVICE] {
                properties.insert(key.to_owned(), list.clone());
            }
        }
        let rules = serde_json::json!({
            "description": "Rules by route, route prefix, domain or service; each inherits the fields above and overrides those it sets.",
            "type": "array",
            "items": Value::Object(rule),
        });
        let top_properties = fields
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(properties) = top_properties {
            properties.insert(RULES.to_owned(), rules);
        }
        top
    }
}

/// `outbound|8080|subset|orders.shop.svc.cluster.local` → (`orders.shop.svc.cluster.local`, 8080).
fn istio_service(cluster: &str) -> Option<(String, Option<u16>)> {
    let mut parts = cluster.split('|');
    let (_direction, port, _subset, name) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some((name.to_owned(), port.parse().ok()))
}

/// `name` or `name:port` from `_match_service_`.
fn service_pattern(service: &str, at: &str) -> Result<(String, Option<u16>), ConfigError> {
    match service.rsplit_once(':') {
        Some((name, port)) => match port.parse::<u16>() {
            Ok(port) if !name.is_empty() => Ok((name.to_owned(), Some(port))),
            _ => Err(ConfigError::field(
                at,
                format!("{service:?} is not `name` or `name:port`"),
            )),
        },
        None if !service.is_empty() => Ok((service.to_owned(), None)),
        None => Err(ConfigError::field(at, "empty service name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        allow: Vec<String>,
        #[serde(default)]
        tag: String,
    }

    fn facts(route: Option<&str>, host: Option<&str>, cluster: Option<&str>) -> RequestFacts {
        RequestFacts {
            route: route.map(Into::into),
            host: host.map(Into::into),
            cluster: cluster.map(Into::into),
        }
    }

    fn which(rules: &HigressRules<Cfg>, f: &RequestFacts) -> String {
        match rules.matching(f) {
            Matched::Rule { index, config } => {
                format!("rule {index} {:?} {}", config.allow, config.tag)
            }
            Matched::Global(config) => format!("global {:?} {}", config.allow, config.tag),
            Matched::Nothing => "nothing".into(),
        }
    }

    #[test]
    fn the_first_rule_in_list_order_applies() {
        let config = json!({
            "allow": ["g"], "tag": "global",
            "_rules_": [
                {"_match_domain_": ["*.example.com"], "allow": ["domain"]},
                {"_match_service_": ["orders.shop.svc.cluster.local:8080"], "allow": ["svc"]},
                {"_match_route_": ["r1"], "allow": ["route"]},
                {"_match_route_prefix_": ["api-"], "allow": ["prefix"], "tag": "p"},
                {"_match_domain_": ["shop.test*"], "allow": ["prefix-domain"]}
            ]
        });
        let rules = HigressRules::<Cfg>::parse(&config).unwrap();
        let svc = "outbound|8080||orders.shop.svc.cluster.local";
        // The domain rule comes first in the list, so it wins over the route rule.
        assert_eq!(
            which(&rules, &facts(Some("r1"), Some("a.example.com"), Some(svc))),
            "rule 0 [\"domain\"] global"
        );
        assert_eq!(
            which(&rules, &facts(Some("r1"), Some("b.test"), Some(svc))),
            "rule 1 [\"svc\"] global"
        );
        assert_eq!(
            which(&rules, &facts(Some("r1"), Some("b.test"), None)),
            "rule 2 [\"route\"] global"
        );
        assert_eq!(
            which(&rules, &facts(Some("api-v1"), None, None)),
            "rule 3 [\"prefix\"] p"
        );
        assert_eq!(
            which(&rules, &facts(Some("x"), Some("shop.test.io"), None)),
            "rule 4 [\"prefix-domain\"] global"
        );
        // The service's port must match when the rule names one.
        let other_port = "outbound|9090||orders.shop.svc.cluster.local";
        assert_eq!(
            which(&rules, &facts(None, None, Some(other_port))),
            "global [\"g\"] global"
        );
        // Domains are case-sensitive.
        assert_eq!(
            which(&rules, &facts(None, Some("a.EXAMPLE.COM"), None)),
            "global [\"g\"] global"
        );
    }

    #[test]
    fn a_rule_has_one_kind_and_route_with_service_needs_both() {
        let config = json!({
            "allow": ["g"],
            "_rules_": [
                // A route rule: its domain is not looked at, as in Higress.
                {"_match_route_": ["r1"], "_match_domain_": ["a.test"], "allow": ["route"]},
                {"_match_route_": ["r2"], "_match_service_": ["s.ns"], "allow": ["both"]},
                {"_match_route_prefix_": ["r"], "allow": ["prefix"]}
            ]
        });
        let rules = HigressRules::<Cfg>::parse(&config).unwrap();
        assert_eq!(
            which(&rules, &facts(Some("x"), Some("a.test"), None)),
            "global [\"g\"] "
        );
        assert_eq!(
            which(&rules, &facts(Some("r2"), None, Some("outbound|80||s.ns"))),
            "rule 1 [\"both\"] "
        );
        assert_eq!(
            which(&rules, &facts(Some("r2"), None, Some("outbound|80||t.ns"))),
            "rule 2 [\"prefix\"] ",
            "route without its service is not rule 1"
        );
    }

    #[test]
    fn an_empty_configuration_is_the_global_one_for_the_type_to_judge() {
        for empty in [json!({}), Value::Null] {
            let error = HigressRules::<Cfg>::parse(&empty).unwrap_err();
            assert_eq!(error.field_path(), Some("allow"), "{error}");
        }
        let error = HigressRules::<Cfg>::parse(&json!({"_rules_": []})).unwrap_err();
        assert_eq!(error.field_path(), Some("_rules_"), "{error}");
        let error =
            HigressRules::<Cfg>::parse(&json!({"_rules_": [{"_match_consumer_": ["c"], "_match_route_prefix_": ["r"], "allow": []}]}))
                .unwrap_err();
        assert_eq!(
            error.field_path(),
            Some("_rules_[0]._match_consumer_"),
            "{error}"
        );
    }

    #[test]
    fn without_a_global_config_an_unmatched_request_gets_nothing() {
        let config = json!({"_rules_": [{"_match_route_": ["r1"], "allow": ["a"]}]});
        let rules = HigressRules::<Cfg>::parse(&config).unwrap();
        assert_eq!(which(&rules, &facts(Some("r2"), None, None)), "nothing");
        assert_eq!(
            which(&rules, &facts(Some("r1"), None, None)),
            "rule 0 [\"a\"] "
        );
    }

    #[test]
    fn errors_name_the_rule_and_field() {
        let error = |config: Value| {
            HigressRules::<Cfg>::parse(&config)
                .unwrap_err()
                .field_path()
                .map(str::to_owned)
        };
        assert_eq!(
            error(json!({"allow": [], "_rules_": [{"_match_route_": ["r"], "allow": 3}]}))
                .as_deref(),
            Some("_rules_[0].allow")
        );
        assert_eq!(
            error(json!({"allow": [], "_rules_": [{"_match_route_": "r"}]})).as_deref(),
            Some("_rules_[0]._match_route_")
        );
        assert_eq!(
            error(json!({"allow": [], "_rules_": [{"allow": []}]})).as_deref(),
            Some("_rules_[0]")
        );
        assert_eq!(
            error(json!({"allow": [], "_rules_": [{}, {"_match_service_": ["s:x"]}]})).as_deref(),
            Some("_rules_[0]")
        );
        assert_eq!(
            error(json!({"allow": [], "_rules_": [{"_match_service_": ["s:x"]}]})).as_deref(),
            Some("_rules_[0]._match_service_[0]")
        );
        assert_eq!(
            error(json!({"allow": [], "bogus": 1})).as_deref(),
            Some("bogus")
        );
        assert_eq!(
            error(json!({"_rules_": [{"_match_route_": ["r"]}]})).as_deref(),
            Some("_rules_[0].allow")
        );
    }

    #[test]
    fn ports_and_istio_cluster_names() {
        assert_eq!(strip_port("a.b:80"), "a.b");
        assert_eq!(strip_port("a.b"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(
            istio_service("outbound|80|v1|x.ns.svc"),
            Some(("x.ns.svc".into(), Some(80)))
        );
        assert_eq!(istio_service("plain"), None);
    }
}
