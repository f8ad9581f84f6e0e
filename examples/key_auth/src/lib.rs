//! `key_auth`: API-key authentication configured the way Higress's `key-auth` plugin is, so
//! a Higress (or Higress console) configuration runs unchanged.
//!
//! ```json
//! {
//!   "consumers": [
//!     {"name": "consumer1", "credential": "2bda943c-ba2b-11ec-ba07-00163e1250b5"},
//!     {"name": "consumer2", "credential": "c8c8e9ca-558e-4a2d-bb62-e700dcc40e35"}
//!   ],
//!   "keys": ["x-api-key", "apikey"],
//!   "in_header": true,
//!   "in_query": true,
//!   "_rules_": [
//!     {"_match_route_": ["admin"], "allow": ["consumer1"]},
//!     {"_match_domain_": ["*.example.com"], "allow": ["consumer2"]}
//!   ]
//! }
//! ```
//!
//! A request that must be authenticated carries exactly one key: in one of the `keys`
//! headers when `in_header` is true (the first value of each), else in the `keys` query
//! parameters when `in_query` is (every value), as Higress's key-auth looks. No key, or
//! more than one (the same key twice included), is a `401`; a key no consumer has, or a
//! consumer the matched rule's `allow` does not list, is a `403`; every denial carries
//! `www-authenticate: Key realm=...`. An authenticated request goes upstream with
//! `x-mse-consumer: <name>`, *set* (any value the client sent is replaced), and every
//! other request that goes upstream has the header removed, so a client cannot forge it.
//!
//! Its configuration is checked as Higress checks it, so one that would let everything
//! through is refused at load, naming the field: an empty one (`""`), `{}`, `null` (no
//! `keys`, no `consumers`), or `{"_rules_": []}` (nothing would apply).
//!
//! Where it differs from Higress's key-auth: it removes a client's own `x-mse-consumer`;
//! after a denial it returns `Pause` where Higress's Go returns `Continue` (Envoy does the
//! same with both: the local reply ends the request); the reply bodies are its own.
//!
//! Which requests are authenticated follows Higress's `global_auth`:
//!
//! | `global_auth` | a rule matched (it has `allow`) | no rule matched |
//! | --- | --- | --- |
//! | `true` | the consumer must be in `allow` | any consumer |
//! | `false` | the consumer must be in `allow` | not authenticated |
//! | absent, the config has `_rules_` | the consumer must be in `allow` | not authenticated |
//! | absent, no `_rules_` | (none) | any consumer |

use envoy_wasm_sdk::config::check_header_name;
use envoy_wasm_sdk::higress::{HigressRules, Matched};
use envoy_wasm_sdk::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use std::rc::Rc;

/// The header that names the authenticated consumer to the upstream, as in Higress.
pub const CONSUMER_HEADER: &str = "x-mse-consumer";

/// One configuration: the global fields, or a rule's (which inherits them).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyAuth {
    /// `true`: requests no rule matches are authenticated too; `false`: only those a rule
    /// matches. Absent: all requests when there are no `_rules_`, else only matched ones.
    #[serde(default)]
    pub global_auth: Option<bool>,
    /// Who may call, and with which key.
    pub consumers: Vec<Consumer>,
    /// The header names and query parameters a key may come in.
    pub keys: Vec<String>,
    /// Look for the key in the query parameters.
    #[serde(default)]
    pub in_query: Option<bool>,
    /// Look for the key in the request headers.
    #[serde(default)]
    pub in_header: Option<bool>,
    /// In a rule: the consumers allowed on what it matches (required there, not empty).
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// The realm of the `www-authenticate` header of a 401 (not a Higress field; Higress
    /// sends `MSE Gateway`).
    #[serde(default = "default_realm")]
    pub realm: String,
}

/// A caller and its key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    /// Its name, sent upstream in `x-mse-consumer`.
    pub name: String,
    /// Its key.
    pub credential: String,
}

fn default_realm() -> String {
    "MSE Gateway".to_owned()
}

/// The plugin: the configuration, global and per rule.
pub struct KeyAuthPlugin {
    rules: HigressRules<KeyAuth>,
}

impl Plugin for KeyAuthPlugin {
    type Config = HigressRules<KeyAuth>;
    type Filter = KeyAuthFilter;

    fn configure(
        rules: HigressRules<KeyAuth>,
        _ctx: &mut ConfigureOps<Self>,
    ) -> Result<Self, ConfigError> {
        rules.validate(check)?;
        Ok(KeyAuthPlugin { rules })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<KeyAuthFilter> {
        Some(KeyAuthFilter { plugin: self })
    }
}

impl KeyAuthPlugin {
    /// The configuration it runs, global and per rule.
    pub fn rules(&self) -> &HigressRules<KeyAuth> {
        &self.rules
    }
}

/// What Higress checks when it parses the configuration, plus what would make a
/// configuration silently refuse everyone (an `allow` naming nobody configured).
fn check(config: &KeyAuth, is_rule: bool) -> Result<(), ConfigError> {
    if config.keys.is_empty() {
        return Err(ConfigError::field("keys", "must not be empty"));
    }
    if config.in_header.is_none() && config.in_query.is_none() {
        return Err(ConfigError::field(
            "in_header",
            "give in_header or in_query (or both): where to look for the key",
        ));
    }
    if !looks_in_header(config) && !looks_in_query(config) {
        return Err(ConfigError::field(
            "in_header",
            "in_header and in_query are both false: no key could be found",
        ));
    }
    for (i, key) in config.keys.iter().enumerate() {
        if key.is_empty() {
            return Err(ConfigError::field(
                format!("keys[{i}]"),
                "must not be empty",
            ));
        }
        if looks_in_header(config) {
            check_header_name(&format!("keys[{i}]"), &key.to_ascii_lowercase())?;
        }
    }
    let challenge = format!("Key realm={}", config.realm);
    if HeaderValue::try_from(challenge.as_str()).is_err() {
        return Err(ConfigError::field(
            "realm",
            "must not hold CR, LF or NUL (it goes into a header)",
        ));
    }
    if config.consumers.is_empty() {
        return Err(ConfigError::field("consumers", "must not be empty"));
    }
    for (i, consumer) in config.consumers.iter().enumerate() {
        if consumer.name.is_empty() {
            return Err(ConfigError::field(
                format!("consumers[{i}].name"),
                "must not be empty",
            ));
        }
        if consumer.credential.is_empty() {
            return Err(ConfigError::field(
                format!("consumers[{i}].credential"),
                "must not be empty",
            ));
        }
        if let Some(j) = config.consumers[..i]
            .iter()
            .position(|other| other.credential == consumer.credential)
        {
            return Err(ConfigError::field(
                format!("consumers[{i}].credential"),
                format!("is also consumers[{j}]'s: each credential names one consumer"),
            ));
        }
    }
    match (&config.allow, is_rule) {
        (Some(_), false) => Err(ConfigError::field(
            "allow",
            "belongs in a rule of `_rules_`, not beside them",
        )),
        (None, true) => Err(ConfigError::field("allow", "missing")),
        (Some(allow), true) if allow.is_empty() => {
            Err(ConfigError::field("allow", "must not be empty"))
        }
        (Some(allow), true) => {
            for (i, name) in allow.iter().enumerate() {
                if !config.consumers.iter().any(|c| &c.name == name) {
                    return Err(ConfigError::field(
                        format!("allow[{i}]"),
                        format!("no consumer is named {name:?}"),
                    ));
                }
            }
            Ok(())
        }
        (None, false) => Ok(()),
    }
}

fn looks_in_header(config: &KeyAuth) -> bool {
    config.in_header.unwrap_or(false)
}

fn looks_in_query(config: &KeyAuth) -> bool {
    config.in_query.unwrap_or(false)
}

/// One per request.
pub struct KeyAuthFilter {
    plugin: Rc<KeyAuthPlugin>,
}

/// Why a request is refused.
enum Denied {
    NoKey,
    SeveralKeys,
    UnknownKey,
    NotAllowed,
}

#[http_filter]
impl HttpFilter for KeyAuthFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        let rules = &self.plugin.rules;
        let (config, matched_rule) = match rules.select(req)? {
            Matched::Rule { config, .. } => (config, true),
            Matched::Global(config) => (config, false),
            Matched::Nothing => return pass(req),
        };
        let authenticate = matched_rule
            || match config.global_auth {
                Some(global) => global,
                None => rules.is_empty(),
            };
        if !authenticate {
            log::debug!("no authentication required here");
            return pass(req);
        }
        let keys = presented_keys(req, config)?;
        let consumer = match consumer_of(config, &keys) {
            Ok(consumer) => consumer,
            Err(denied) => return deny(req, config, denied),
        };
        if let Some(allow) = config.allow.as_ref().filter(|_| matched_rule)
            && !allow.contains(&consumer.name)
        {
            log::warn!("consumer {:?} is not allowed here", consumer.name);
            return deny(req, config, Denied::NotAllowed);
        }
        log::info!("consumer {:?} authenticated", consumer.name);
        req.headers().set(CONSUMER_HEADER, &consumer.name)?;
        Ok(Action::Continue)
    }
}

/// Lets the request go on unauthenticated, without a consumer header the client made up.
fn pass(req: &mut RequestHeadersOps<KeyAuthFilter>) -> Result<Action, Error> {
    req.headers().remove(CONSUMER_HEADER)?;
    Ok(Action::Continue)
}

/// The consumer whose key the request carries: exactly one key, one a consumer has.
fn consumer_of<'c>(config: &'c KeyAuth, keys: &[Vec<u8>]) -> Result<&'c Consumer, Denied> {
    let key = match keys {
        [] => return Err(Denied::NoKey),
        [key] => key,
        _ => return Err(Denied::SeveralKeys),
    };
    config
        .consumers
        .iter()
        .find(|consumer| same_secret(consumer.credential.as_bytes(), key))
        .ok_or_else(|| {
            log::warn!("a key no consumer has");
            Denied::UnknownKey
        })
}

/// The non-empty keys the request carries where the configuration looks: the first value
/// of each `keys` header when `in_header`, else every value of each `keys` query
/// parameter when `in_query` (as Higress's key-auth). At most two are kept: more than one
/// is refused whatever they are, so the work stays linear in the request. A query string
/// with a bad `%` escape is an `Err` (a 400), never read as "no key".
fn presented_keys(
    req: &mut RequestHeadersOps<KeyAuthFilter>,
    config: &KeyAuth,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut found: Vec<Vec<u8>> = Vec::new();
    if looks_in_header(config) {
        let headers = req.headers();
        for key in &config.keys {
            if let Some(value) = headers.get(key.to_ascii_lowercase())?
                && !value.as_bytes().is_empty()
            {
                found.push(value.as_bytes().to_vec());
            }
            if found.len() > 1 {
                break;
            }
        }
    } else if looks_in_query(config) {
        let query = req.query()?;
        'keys: for key in &config.keys {
            for value in query.get_all(key).filter(|value| !value.is_empty()) {
                found.push(value.to_vec());
                if found.len() > 1 {
                    break 'keys;
                }
            }
        }
    }
    Ok(found)
}

/// Compares a key with a credential without stopping at the first differing byte, so the
/// time taken does not tell a client how much of a guess was right.
fn same_secret(credential: &[u8], key: &[u8]) -> bool {
    if credential.len() != key.len() {
        return false;
    }
    credential
        .iter()
        .zip(key)
        .fold(0u8, |differ, (a, b)| differ | (a ^ b))
        == 0
}

/// Answers as Higress does: 401 when the request carries no key or several, 403 when its
/// key is unknown or its consumer not allowed; `www-authenticate` on every denial.
fn deny(
    req: &mut RequestHeadersOps<KeyAuthFilter>,
    config: &KeyAuth,
    denied: Denied,
) -> Result<Action, Error> {
    let (status, details, body) = match denied {
        Denied::NoKey => (401, "key_auth.no_key", "No API key found in request."),
        Denied::SeveralKeys => (
            401,
            "key_auth.several_keys",
            "Multiple API keys found in request.",
        ),
        Denied::UnknownKey => (403, "key_auth.invalid_key", "Invalid API key."),
        Denied::NotAllowed => (403, "key_auth.not_allowed", "Unauthorized consumer."),
    };
    let reply = LocalReply::new(status)
        .header("content-type", "text/plain")
        .header("www-authenticate", format!("Key realm={}", config.realm))
        .body(format!("Request denied by Key Auth check. {body}\n"))
        .details(details);
    req.respond(reply)
}

envoy_wasm_sdk::entry!(KeyAuthPlugin);
