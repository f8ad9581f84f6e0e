//! Per-route configuration: rules matched on the route, the `:authority` or the upstream
//! cluster pick the configuration a request gets; the first match wins, else `default`.
//!
//! ```json
//! {
//!   "default": {"limit": 10},
//!   "rules": [
//!     {"match": {"route": "admin"}, "config": {"limit": 1}},
//!     {"match": {"route_prefix": "api_", "authority": "*.example.com"}, "config": {"limit": 100}},
//!     {"match": {"cluster": "legacy"}, "config": {"limit": 5}}
//!   ]
//! }
//! ```
//!
//! A match holds when all its conditions do. `authority` is exact (`example.com`), a suffix
//! (`*.example.com`) or a prefix (`api.*`), compared without case and without the port.
//!
//! This module is the SDK's one route matcher: [`RequestFacts`] (what a request is matched
//! on, read from Envoy only as far as the rules look) and its host patterns serve these
//! rules and [Higress's](crate::higress), which differ only in their JSON and in case (a
//! Higress domain is case-sensitive). The route is `route_name` where the host has it (as
//! Higress's Envoy does), else `xds.route_name`; the cluster likewise `cluster_name`, else
//! `xds.cluster_name`; the host is `:authority`.
//!
//! ```
//! use envoy_wasm_sdk::routes::PerRoute;
//! use envoy_wasm_sdk::{ConfigError, config};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, Default)]
//! struct Limits {
//!     limit: u32,
//! }
//!
//! let json = br#"{"default": {"limit": 5}, "rules": [{"match": {"route": "a"}, "config": {"limit": 0}}]}"#;
//! let rules: PerRoute<Limits> = config::parse(json).unwrap();
//! let checked = rules.validate(|limits, field| {
//!     if limits.limit == 0 {
//!         return Err(ConfigError::field(format!("{field}.limit"), "must be positive"));
//!     }
//!     Ok(())
//! });
//! assert_eq!(checked.unwrap_err().to_string(), "field `rules[0].config.limit`: must be positive");
//! ```

use crate::config::ConfigError;
use crate::filter::RequestHeadersOps;
use crate::host::HostResult;
use crate::properties::{Property, XDS_CLUSTER_NAME, XDS_ROUTE_NAME};
use serde::Deserialize;

/// A configuration with per-route rules.
#[derive(Debug, Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(bound = "C: schemars::JsonSchema + Default")
)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "C: Deserialize<'de> + Default")
)]
pub struct PerRoute<C> {
    /// What requests no rule matches get.
    #[serde(default)]
    pub default: C,
    /// Rules, tried in order.
    #[serde(default)]
    pub rules: Vec<RouteRule<C>>,
}

/// One rule: when it matches, and the configuration it gives.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteRule<C> {
    /// The conditions.
    #[serde(rename = "match")]
    pub when: RouteMatch,
    /// The configuration for matching requests.
    pub config: C,
}

/// Conditions of a rule; all given ones must hold.
#[derive(Debug, Default, Deserialize, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// The route's name, exactly.
    pub route: Option<String>,
    /// The start of the route's name.
    pub route_prefix: Option<String>,
    /// `host`, `*.suffix` or `prefix.*`.
    pub authority: Option<String>,
    /// The upstream cluster the route chose.
    pub cluster: Option<String>,
}

/// What a request is matched on, by [`PerRoute`] and by
/// [`HigressRules`](crate::higress::HigressRules).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The route's name.
    pub route: Option<String>,
    /// The host (`:authority`), with or without a port.
    pub host: Option<String>,
    /// The upstream cluster's name (`outbound|8080||orders.shop.svc.cluster.local` in Istio).
    pub cluster: Option<String>,
}

impl RequestFacts {
    /// Reads them from Envoy at request headers: the route from `route_name` where the
    /// host has it, else `xds.route_name`; the cluster likewise from `cluster_name` or
    /// `xds.cluster_name`; the host from `:authority`.
    ///
    /// # Errors
    /// The host's status when Envoy refuses a read.
    pub fn read<F>(req: &mut RequestHeadersOps<'_, F>) -> HostResult<RequestFacts> {
        RequestFacts::read_only(req, Wanted::ALL)
    }

    /// Reads the facts `wanted` asks for; the others stay `None`.
    pub(crate) fn read_only<F>(
        req: &mut RequestHeadersOps<'_, F>,
        wanted: Wanted,
    ) -> HostResult<RequestFacts> {
        let host = match wanted.host {
            true => req.headers().get_str(":authority")?,
            false => None,
        };
        let props = req.properties();
        let either = |want: bool, own: &str, xds: Property<String>| -> HostResult<Option<String>> {
            if !want {
                return Ok(None);
            }
            match props.get_string(&[own])? {
                Some(value) => Ok(Some(value)),
                None => props.get(xds),
            }
        };
        Ok(RequestFacts {
            route: either(wanted.route, "route_name", XDS_ROUTE_NAME)?,
            cluster: either(wanted.cluster, "cluster_name", XDS_CLUSTER_NAME)?,
            host,
        })
    }
}

/// Which facts the rules look at.
#[derive(Clone, Copy)]
pub(crate) struct Wanted {
    pub(crate) route: bool,
    pub(crate) host: bool,
    pub(crate) cluster: bool,
}

impl Wanted {
    pub(crate) const ALL: Wanted = Wanted {
        route: true,
        host: true,
        cluster: true,
    };
}

/// A host pattern: exact, `*suffix` or `prefix*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPattern {
    Exact(String),
    /// `*suffix`
    Suffix(String),
    /// `prefix*`
    Prefix(String),
}

impl HostPattern {
    pub(crate) fn parse(pattern: &str) -> HostPattern {
        if let Some(suffix) = pattern.strip_prefix('*') {
            HostPattern::Suffix(suffix.to_owned())
        } else if let Some(prefix) = pattern.strip_suffix('*') {
            HostPattern::Prefix(prefix.to_owned())
        } else {
            HostPattern::Exact(pattern.to_owned())
        }
    }

    /// Whether `host` (without its port) matches, case-sensitively.
    pub(crate) fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(exact) => host == exact,
            HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
            HostPattern::Prefix(prefix) => host.starts_with(prefix.as_str()),
        }
    }
}

/// `host:port` → `host`; `[v6]:port` → `[v6]`.
pub(crate) fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(colon)
            if !host[colon..].contains(']')
                && host[colon + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &host[..colon]
        }
        _ => host,
    }
}

impl RouteMatch {
    /// Whether `facts` satisfy every condition.
    pub fn matches(&self, facts: &RequestFacts) -> bool {
        let holds = |condition: &Option<String>,
                     fact: &Option<String>,
                     test: &dyn Fn(&str, &str) -> bool| {
            condition
                .as_deref()
                .is_none_or(|c| fact.as_deref().is_some_and(|f| test(c, f)))
        };
        holds(&self.route, &facts.route, &|c, f| c == f)
            && holds(&self.route_prefix, &facts.route, &|c, f| f.starts_with(c))
            && holds(&self.authority, &facts.host, &|pattern, host| {
                // Without case, as host names compare.
                HostPattern::parse(&pattern.to_ascii_lowercase())
                    .matches(&strip_port(host).to_ascii_lowercase())
            })
            && holds(&self.cluster, &facts.cluster, &|c, f| c == f)
    }

    fn validate(&self, field: &str) -> Result<(), ConfigError> {
        if self.route.is_none()
            && self.route_prefix.is_none()
            && self.authority.is_none()
            && self.cluster.is_none()
        {
            return Err(ConfigError::field(
                field,
                "give at least one of route, route_prefix, authority, cluster",
            ));
        }
        if let Some(pattern) = &self.authority {
            let inner = pattern.trim_start_matches('*').trim_end_matches('*');
            let stars = pattern.matches('*').count();
            if inner.is_empty() || inner.contains('*') || stars > 1 {
                return Err(ConfigError::field(
                    format!("{field}.authority"),
                    format!("{pattern:?}: use host, *.suffix or prefix.*"),
                ));
            }
        }
        Ok(())
    }
}

impl<C> PerRoute<C> {
    /// Checks the rules, and each configuration with `check(config, field_path)`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming what is wrong (and the field, when it is one).
    pub fn validate(
        &self,
        check: impl Fn(&C, &str) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        check(&self.default, "default")?;
        for (i, rule) in self.rules.iter().enumerate() {
            rule.when.validate(&format!("rules[{i}].match"))?;
            check(&rule.config, &format!("rules[{i}].config"))?;
        }
        Ok(())
    }

    /// The configuration for `facts`.
    pub fn pick(&self, facts: &RequestFacts) -> &C {
        self.rules
            .iter()
            .find(|rule| rule.when.matches(facts))
            .map_or(&self.default, |rule| &rule.config)
    }

    /// The configuration for the request in `req`; reads only what the rules look at.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn select<F: 'static>(&self, req: &mut RequestHeadersOps<'_, F>) -> HostResult<&C> {
        if self.rules.is_empty() {
            return Ok(&self.default);
        }
        let wants = |f: fn(&RouteMatch) -> bool| self.rules.iter().any(|r| f(&r.when));
        let wanted = Wanted {
            route: wants(|m| m.route.is_some() || m.route_prefix.is_some()),
            host: wants(|m| m.authority.is_some()),
            cluster: wants(|m| m.cluster.is_some()),
        };
        Ok(self.pick(&RequestFacts::read_only(req, wanted)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(route: &str, host: &str, cluster: &str) -> RequestFacts {
        RequestFacts {
            route: Some(route.into()),
            host: Some(host.into()),
            cluster: Some(cluster.into()),
        }
    }

    #[test]
    fn the_first_matching_rule_wins_else_the_default() {
        let rules: PerRoute<String> = crate::config::parse(
            br#"{"default": "d", "rules": [
                {"match": {"route": "admin"}, "config": "admin"},
                {"match": {"route_prefix": "api_", "authority": "*.example.com"}, "config": "api"},
                {"match": {"authority": "internal.*"}, "config": "internal"},
                {"match": {"cluster": "legacy"}, "config": "legacy"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(rules.pick(&facts("admin", "x", "c")), "admin");
        assert_eq!(rules.pick(&facts("api_v1", "a.example.com", "c")), "api");
        assert_eq!(
            rules.pick(&facts("api_v1", "example.org", "c")),
            "d",
            "both conditions must hold"
        );
        assert_eq!(rules.pick(&facts("r", "internal.corp", "c")), "internal");
        assert_eq!(rules.pick(&facts("r", "h", "legacy")), "legacy");
        assert_eq!(rules.pick(&RequestFacts::default()), "d");
    }

    #[test]
    fn bad_rules_are_refused_naming_the_field() {
        let check = |json: &str| {
            let rules: PerRoute<String> = crate::config::parse(json.as_bytes()).unwrap();
            rules.validate(|_, _| Ok(())).unwrap_err().to_string()
        };
        assert!(
            check(r#"{"rules": [{"match": {}, "config": "x"}]}"#)
                .contains("field `rules[0].match`")
        );
        assert!(
            check(r#"{"rules": [{"match": {"authority": "a*b"}, "config": "x"}]}"#)
                .contains("rules[0].match.authority")
        );
        assert!(
            check(r#"{"rules": [{"match": {"authority": "*"}, "config": "x"}]}"#)
                .contains("rules[0].match.authority")
        );
        let unknown = crate::config::parse::<PerRoute<String>>(
            br#"{"rules": [{"match": {"rout": "a"}, "config": "x"}]}"#,
        );
        assert_eq!(
            unknown.unwrap_err().field_path(),
            Some("rules[0].match.rout")
        );
    }
}
