//! `http_headers`: header rules from the plugin configuration.
//!
//! ```json
//! {
//!   "request": {
//!     "require": ["x-api-key"],
//!     "add":    [{"name": "x-added", "value": "1"}],
//!     "set":    [{"name": "x-env", "value": "prod"}],
//!     "remove": ["x-internal"]
//!   },
//!   "response": {
//!     "set":    [{"name": "x-frame-options", "value": "DENY"}],
//!     "remove": ["server"]
//!   }
//! }
//! ```
//!
//! Rules run in the order `require`, `remove`, `set`, `add`. A request missing a required
//! header is answered `400` with the header's name. Unknown fields, wrong types, header
//! names that are not lower-case tokens and values with control characters reject the
//! configuration, and Envoy's log names the field.

use envoy_wasm_sdk::config::check_header_name;
use envoy_wasm_sdk::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use std::rc::Rc;

/// The plugin configuration.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Rules for request headers, applied before the request goes upstream.
    pub request: Rules,
    /// Rules for response headers, applied before the response goes downstream.
    pub response: Rules,
}

/// What to do with one header map.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Headers that must be present (answered `400` otherwise; requests only).
    pub require: Vec<String>,
    /// Headers to remove.
    pub remove: Vec<String>,
    /// Headers to set, replacing any value.
    pub set: Vec<Header>,
    /// Headers to add, keeping existing values.
    pub add: Vec<Header>,
}

/// One header.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Lower-case header name.
    pub name: String,
    /// Value.
    pub value: String,
}

impl Rules {
    fn validate(&self, side: &str) -> Result<(), ConfigError> {
        if side == "response" && !self.require.is_empty() {
            return Err(ConfigError::field(
                "response.require",
                "only requests can require headers",
            ));
        }
        for (i, name) in self.require.iter().enumerate() {
            check_header_name(&format!("{side}.require[{i}]"), name)?;
        }
        for (i, name) in self.remove.iter().enumerate() {
            check_header_name(&format!("{side}.remove[{i}]"), name)?;
        }
        for (list, headers) in [("set", &self.set), ("add", &self.add)] {
            for (i, header) in headers.iter().enumerate() {
                check_header_name(&format!("{side}.{list}[{i}].name"), &header.name)?;
                if header.value.chars().any(|c| c.is_control() && c != '\t') {
                    return Err(ConfigError::field(
                        format!("{side}.{list}[{i}].value"),
                        "control characters are not allowed in header values",
                    ));
                }
            }
        }
        Ok(())
    }

    fn apply(&self, headers: &mut HeadersMut<'_>) -> Result<(), Error> {
        for name in &self.require {
            if !headers.contains(name)? {
                return Err(Error::with_status(
                    400,
                    format!("missing required header {name}"),
                ));
            }
        }
        for name in &self.remove {
            headers.remove(name)?;
        }
        for header in &self.set {
            headers.set(&header.name, &header.value)?;
        }
        for header in &self.add {
            headers.add(&header.name, &header.value)?;
        }
        Ok(())
    }
}

/// The plugin: validated rules, shared by every stream.
pub struct HeaderRules {
    config: Config,
}

impl Plugin for HeaderRules {
    type Config = Config;
    type Filter = HeaderFilter;

    fn configure(config: Config, _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        config.request.validate("request")?;
        config.response.validate("response")?;
        if config.request.len() + config.response.len() == 0 {
            // A filter with no rules does nothing: most likely a configuration that did
            // not reach it. Refused, so a missing `require` never lets requests through.
            return Err(ConfigError::field(
                "request",
                "no rules: give `request` or `response` rules (with none the filter does nothing)",
            ));
        }
        log::info!(
            "{} request and {} response rules",
            config.request.len(),
            config.response.len()
        );
        Ok(HeaderRules { config })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<HeaderFilter> {
        Some(HeaderFilter { plugin: self })
    }
}

impl HeaderRules {
    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Rules {
    fn len(&self) -> usize {
        self.require.len() + self.remove.len() + self.set.len() + self.add.len()
    }
}

/// One per request.
pub struct HeaderFilter {
    plugin: Rc<HeaderRules>,
}

#[http_filter]
impl HttpFilter for HeaderFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        self.plugin.config.request.apply(&mut req.headers())?;
        Ok(Action::Continue)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        self.plugin.config.response.apply(&mut resp.headers())?;
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(HeaderRules);
