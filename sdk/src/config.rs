//! Typed plugin configuration.
//!
//! Envoy hands the plugin its `configuration` (usually text in a
//! `google.protobuf.StringValue`). The SDK turns it into
//! [`Plugin::Config`](crate::Plugin::Config) before calling
//! [`Plugin::configure`](crate::Plugin::configure), by the type:
//!
//! | `Config` | the configuration | empty |
//! |---|---|---|
//! | `Vec<u8>` | its bytes as they are | `vec![]` |
//! | `String` | its text as it is (`echo`, a queue name; not JSON) | `""` |
//! | `Option<String>`, `Option<Vec<u8>>` | `Some` of the above | `None` |
//! | `()` | nothing: empty, `null` or `{}` | `()` |
//! | `Option<T>` for another `T` | JSON through serde | `None` (so is `null`) |
//! | any other `T: Deserialize` | JSON through serde | refused: "no configuration" (`null` too) |
//!
//! So an empty configuration is never `{}`: a plugin whose fields all have defaults
//! still refuses to run without one, unless its `Config` is an `Option` (then `None` is
//! absent or empty, `Some` is what was given, `{}` included). An auth filter that must
//! never run unconfigured keeps its plain type and gets the refusal for free.
//!
//! A parse error rejects the configuration and the log line names the field, as a path
//! such as `request.add[1].value`.
//!
//! ```
//! use envoy_wasm_sdk::config::parse;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, Debug, Default)]
//! struct Limits {
//!     #[serde(default)]
//!     max_body: u32,
//! }
//!
//! assert_eq!(parse::<String>(b"echo").unwrap(), "echo");
//! assert_eq!(parse::<Vec<u8>>(b"\x01\x02").unwrap(), b"\x01\x02");
//! assert_eq!(parse::<Option<String>>(b"").unwrap(), None);
//! assert!(parse::<Limits>(b"").unwrap_err().to_string().contains("no configuration"));
//! assert_eq!(parse::<Limits>(b"{}").unwrap().max_body, 0);
//! assert!(parse::<Option<Limits>>(b"").unwrap().is_none());
//! assert!(parse::<Option<Limits>>(b"{}").unwrap().is_some());
//! ```
//!
//! Validation that serde cannot express goes in `configure`, with [`ConfigError::field`]:
//!
//! ```
//! use envoy_wasm_sdk::ConfigError;
//!
//! fn check_limit(limit: u32) -> Result<(), ConfigError> {
//!     if limit == 0 {
//!         return Err(ConfigError::field("limits.max_body", "must be greater than 0"));
//!     }
//!     Ok(())
//! }
//! assert_eq!(
//!     check_limit(0).unwrap_err().to_string(),
//!     "field `limits.max_body`: must be greater than 0"
//! );
//! ```
//!
//! # Schema
//!
//! With the `schema` feature, a configuration type that derives
//! [`schemars::JsonSchema`](https://docs.rs/schemars) has a JSON Schema (draft 2020-12),
//! derived from the same type and serde attributes the parser uses: renames,
//! `deny_unknown_fields` (no additional properties), defaults (not required), enums, and
//! doc comments as descriptions. `cargo envoy-wasm schema` prints it, and
//! `cargo envoy-wasm manifests` checks a `pluginConfig` against it before writing anything.
//!
//! ```
//! # #[cfg(feature = "schema")] {
//! use serde::Deserialize;
//!
//! /// Limits for one route.
//! #[derive(Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Limits {
//!     /// Largest body accepted, in bytes.
//!     #[serde(default)]
//!     max_body: u32,
//! }
//!
//! let schema = envoy_wasm_sdk::config::schema::<Limits>();
//! assert_eq!(schema["additionalProperties"], false);
//! assert_eq!(schema["properties"]["max_body"]["description"], "Largest body accepted, in bytes.");
//! # }
//! ```

use serde::de::DeserializeOwned;
use std::fmt;

/// Why a configuration was rejected, and which field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: Option<String>,
    message: String,
}

impl ConfigError {
    /// A problem with one field, named by its path (`rules[2].name`).
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            field: Some(path.into()),
            message: message.into(),
        }
    }

    /// A problem with the configuration as a whole.
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            field: None,
            message: message.into(),
        }
    }

    /// The path of the bad field, if the problem is in one.
    pub fn field_path(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same problem, seen from a configuration that holds this part under `prefix`:
    /// field `allow` under `_rules_[2]` becomes `_rules_[2].allow` (an empty prefix changes
    /// nothing).
    ///
    /// ```
    /// use envoy_wasm_sdk::ConfigError;
    ///
    /// let error = ConfigError::field("allow", "must not be empty").under("_rules_[2]");
    /// assert_eq!(error.field_path(), Some("_rules_[2].allow"));
    /// ```
    #[must_use]
    pub fn under(self, prefix: &str) -> ConfigError {
        ConfigError {
            field: join_path(prefix, self.field.as_deref()),
            message: self.message,
        }
    }

    /// A `ConfigError` that travelled as text (a `Deserialize` impl can only raise
    /// messages): `field `x`: y` is the problem `y` in field `x` again.
    pub(crate) fn from_text(text: &str) -> Option<ConfigError> {
        let rest = text.strip_prefix("field `")?;
        let (field, message) = rest.split_once("`: ")?;
        Some(ConfigError::field(field, message))
    }
}

/// `prefix.field`, `prefix[0]`, or either alone when the other is empty.
fn join_path(prefix: &str, field: Option<&str>) -> Option<String> {
    match (prefix, field) {
        ("", field) => field.map(str::to_owned),
        (prefix, None) => Some(prefix.to_owned()),
        (prefix, Some(field)) if field.starts_with('[') => Some(format!("{prefix}{field}")),
        (prefix, Some(field)) => Some(format!("{prefix}.{field}")),
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A host call failed while configuring (defining a metric, reading a property, ...): the
/// configuration is rejected with the failure as its reason, so `?` works in
/// [`Plugin::configure`](crate::Plugin::configure).
impl From<crate::host::HostError> for ConfigError {
    fn from(error: crate::host::HostError) -> ConfigError {
        ConfigError::new(error.to_string())
    }
}

/// A header the plugin would send while configuring (gRPC stream metadata, say) is refused,
/// or the host refused the call: the configuration is rejected with that reason.
impl From<crate::headers::HeaderError> for ConfigError {
    fn from(error: crate::headers::HeaderError) -> ConfigError {
        ConfigError::new(error.to_string())
    }
}

/// Checks that `name`, found at `field`, is a header name Envoy accepts in every protocol:
/// a non-empty lower-case token (HTTP/2 forbids upper case).
///
/// # Errors
/// A [`ConfigError`] naming what is wrong (and the field, when it is one).
pub fn check_header_name(field: &str, name: &str) -> Result<(), ConfigError> {
    let token =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(ConfigError::field(
            field,
            format!("{name:?} is not a valid header name (lower-case token expected)"),
        ));
    }
    Ok(())
}

/// Parses a plugin configuration; see the [module docs](self) for the rules.
///
/// # Errors
/// A [`ConfigError`] naming what is wrong (and the field, when it is one).
pub fn parse<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, ConfigError> {
    use std::any::{Any, TypeId};
    // Decided at compile time: a plugin whose configuration is not JSON (none, text or
    // bytes) carries no JSON parser.
    let id = TypeId::of::<T>();
    if id == TypeId::of::<()>() {
        return parse_nothing(bytes);
    }
    let raw: Option<Box<dyn Any>> = if id == TypeId::of::<Vec<u8>>() {
        Some(Box::new(bytes.to_vec()))
    } else if id == TypeId::of::<String>() {
        Some(Box::new(text(bytes)?))
    } else if id == TypeId::of::<Option<Vec<u8>>>() {
        Some(Box::new((!bytes.is_empty()).then(|| bytes.to_vec())))
    } else if id == TypeId::of::<Option<String>>() {
        let text = if bytes.is_empty() {
            None
        } else {
            Some(text(bytes)?)
        };
        Some(Box::new(text))
    } else {
        None
    };
    if let Some(raw) = raw {
        return raw
            .downcast::<T>()
            .map(|value| *value)
            .map_err(|_| ConfigError::new("the configuration's type changed while parsing"));
    }
    let text = bytes.trim_ascii();
    if text.is_empty() || text == b"null" {
        return parse_json(b"null").map_err(|_| {
            ConfigError::new(format!(
                "no configuration: this plugin needs one (the configuration is {})",
                if text.is_empty() { "empty" } else { "null" }
            ))
        });
    }
    parse_json(bytes)
}

/// The configuration as text.
fn text(bytes: &[u8]) -> Result<String, ConfigError> {
    String::from_utf8(bytes.to_vec()).map_err(|error| {
        ConfigError::new(format!(
            "the configuration is not UTF-8 text (byte {})",
            error.utf8_error().valid_up_to()
        ))
    })
}

/// The configuration of a plugin that takes none: empty, `null` or `{}`.
fn parse_nothing<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
    if !matches!(bytes.trim_ascii(), b"" | b"null" | b"{}") {
        return Err(ConfigError::new(
            "this plugin takes no configuration (leave it empty)",
        ));
    }
    let nothing = serde::de::value::UnitDeserializer::<serde::de::value::Error>::new();
    T::deserialize(nothing).map_err(|error| ConfigError::new(error.to_string()))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        field_error(None, &path, error.into_inner().to_string())
    })?;
    deserializer
        .end()
        .map_err(|error| ConfigError::new(error.to_string()))?;
    Ok(value)
}

/// Parses a part of a configuration (a [`serde_json::Value`] already read, such as one
/// rule of a list) into `T`, naming fields from `prefix`: an error in field `name` of the
/// value parsed with prefix `rules[2]` names `rules[2].name`.
///
/// ```
/// use envoy_wasm_sdk::config::parse_value;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Rule {
///     allow: Vec<String>,
/// }
///
/// let rules: serde_json::Value = serde_json::json!([{"allow": ["a"]}, {"allow": "b"}]);
/// let error = parse_value::<Rule>(&rules[1], "_rules_[1]").err().unwrap();
/// assert_eq!(error.field_path(), Some("_rules_[1].allow"));
/// ```
///
/// # Errors
/// A [`ConfigError`] naming the field (under `prefix`) and what is wrong.
pub fn parse_value<T: DeserializeOwned>(
    value: &serde_json::Value,
    prefix: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        field_error(Some(prefix), &path, error.into_inner().to_string())
    })
}

/// The error for `message` at serde's `path` (`.` for the top), under `prefix`.
fn field_error(prefix: Option<&str>, path: &str, message: String) -> ConfigError {
    let at = join_path(
        prefix.unwrap_or_default(),
        Some(path).filter(|path| *path != "."),
    )
    .unwrap_or_default();
    // serde names a missing field in the message and points at its parent: name the field
    // itself, like every other error.
    if let Some(name) = missing_field(&message) {
        return ConfigError::field(name, "missing").under(&at);
    }
    // A part that parses itself (`HigressRules`) raised a field error of its own.
    if let Some(inner) = ConfigError::from_text(&message) {
        return inner.under(&at);
    }
    ConfigError::new(message).under(&at)
}

/// The field named by serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// The JSON Schema (draft 2020-12) of configuration type `T`; see [Schema](self#schema).
#[cfg(feature = "schema")]
pub fn schema<T: schemars::JsonSchema>() -> serde_json::Value {
    schemars::schema_for!(T).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, Default, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Rules {
        add: Vec<Header>,
        limit: u32,
    }

    #[derive(Deserialize, Debug, Default, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Header {
        name: String,
        value: String,
    }

    #[test]
    fn names_the_field_with_a_wrong_type() {
        let error =
            parse::<Rules>(br#"{"add": [{"name": "a", "value": "b"}, {"name": "c", "value": 5}]}"#)
                .unwrap_err();
        assert_eq!(error.field_path(), Some("add[1].value"));
        assert!(error.message().contains("expected a string"), "{error}");
    }

    #[test]
    fn names_a_missing_field_like_any_other() {
        let error = parse::<Rules>(br#"{"add": [{"name": "a"}]}"#).unwrap_err();
        assert_eq!(error.field_path(), Some("add[0].value"));
        assert_eq!(error.to_string(), "field `add[0].value`: missing");
        let error = parse::<Header>(br#"{"value": "v"}"#).unwrap_err();
        assert_eq!(error.to_string(), "field `name`: missing");
    }

    #[test]
    fn a_sub_tree_names_its_fields_under_a_prefix() {
        let rules = serde_json::json!([{"add": [], "limit": 1}, {"add": [{"name": "a"}]}]);
        let error = parse_value::<Rules>(&rules[1], "_rules_[1]").unwrap_err();
        assert_eq!(
            error.to_string(),
            "field `_rules_[1].add[0].value`: missing"
        );
        let error = parse_value::<Rules>(&serde_json::json!({"limit": "x"}), "r").unwrap_err();
        assert_eq!(error.field_path(), Some("r.limit"));
        let error = parse_value::<Header>(&serde_json::json!(3), "one").unwrap_err();
        assert_eq!(error.field_path(), Some("one"));
        assert_eq!(
            parse_value::<Rules>(&rules[0], "x").unwrap(),
            Rules {
                add: vec![],
                limit: 1
            }
        );
    }

    #[test]
    fn names_an_unknown_field() {
        let error = parse::<Rules>(br#"{"add": [], "limt": 3}"#).unwrap_err();
        assert_eq!(error.field_path(), Some("limt"));
        assert!(error.message().contains("unknown field `limt`"), "{error}");
    }

    #[test]
    fn an_empty_configuration_is_absent_never_an_empty_object() {
        assert_eq!(parse::<()>(b"").unwrap(), ());
        assert_eq!(parse::<Option<Rules>>(b"  ").unwrap(), None);
        assert_eq!(
            parse::<Option<Rules>>(b"{}").unwrap(),
            Some(Rules::default())
        );
        let refused = parse::<Rules>(b"").unwrap_err();
        assert!(refused.message().contains("no configuration"), "{refused}");
        assert_eq!(parse::<Rules>(b"{}").unwrap(), Rules::default());
    }

    #[test]
    fn text_and_bytes_are_taken_as_they_are() {
        assert_eq!(parse::<String>(b"echo").unwrap(), "echo");
        assert_eq!(parse::<String>(br#""quoted""#).unwrap(), r#""quoted""#);
        assert_eq!(parse::<Vec<u8>>(&[0, 255]).unwrap(), [0, 255]);
        assert_eq!(parse::<Option<Vec<u8>>>(b"").unwrap(), None);
        assert_eq!(parse::<Option<String>>(b"q").unwrap().as_deref(), Some("q"));
        let refused = parse::<String>(&[b'a', 0xff]).unwrap_err();
        assert!(refused.message().contains("not UTF-8"), "{refused}");
    }

    #[test]
    fn header_names_are_lower_case_tokens() {
        assert!(check_header_name("f", "x-api-key").is_ok());
        for bad in ["", "X-Upper", "with space", "colon:", "\u{e9}"] {
            let error = check_header_name("rules[0]", bad).unwrap_err();
            assert_eq!(error.field_path(), Some("rules[0]"));
        }
    }

    #[test]
    fn rejects_trailing_garbage_and_bad_json() {
        assert!(parse::<Rules>(br#"{"limit": 1} x"#).is_err());
        let error = parse::<Rules>(br#"{"limit": "#).unwrap_err();
        assert!(error.message().contains("EOF"), "{error}");
    }

    /// The schema follows the serde attributes the parser follows.
    #[cfg(feature = "schema")]
    #[test]
    fn the_schema_follows_serde_attributes() {
        /// How to answer.
        #[derive(Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        #[allow(dead_code)]
        enum Mode {
            Allow,
            Deny,
        }

        /// A rule.
        #[derive(Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Rule {
            /// The header's name.
            #[serde(rename = "header")]
            name: String,
            #[serde(default)]
            limit: u32,
            mode: Mode,
        }

        let schema = schema::<Rule>();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["description"], "A rule.");
        assert_eq!(
            schema["properties"]["header"]["description"],
            "The header's name."
        );
        assert!(schema["properties"].get("name").is_none());
        assert_eq!(schema["required"], serde_json::json!(["header", "mode"]));
        assert_eq!(schema["properties"]["limit"]["default"], 0);
        let mode = &schema["$defs"]["Mode"];
        assert_eq!(mode["enum"], serde_json::json!(["allow", "deny"]));
        // And what the schema accepts, the parser does.
        let rule: Rule = parse(br#"{"header": "x-a", "mode": "deny"}"#).unwrap();
        assert_eq!((rule.name.as_str(), rule.limit), ("x-a", 0));
    }
}
