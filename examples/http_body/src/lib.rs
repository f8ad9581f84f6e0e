//! `http_body`: buffers JSON request bodies, replaces configured fields with a placeholder
//! and forwards the rewritten body. `content-length` is dropped when the request arrives, so
//! the upstream sees the rewritten body's real length (chunked in HTTP/1.1).
//!
//! - `"redact": ["password", "card.number"]`: dotted paths into objects; a path through an
//!   array applies to each element (`items.secret`);
//! - a body over `max_body_bytes` is answered `413`, a body that is not JSON `415`, invalid
//!   JSON `400`; requests without a body pass untouched.

use envoy_wasm_sdk::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::rc::Rc;

/// The plugin configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Dotted paths of the fields to redact.
    pub redact: Vec<String>,
    /// What redacted values become.
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// The largest body buffered; larger ones are answered 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

fn default_replacement() -> String {
    "[redacted]".into()
}

fn default_max_body_bytes() -> usize {
    64 * 1024
}

/// The plugin: paths split once, shared by every request.
pub struct HttpBody {
    paths: Vec<Vec<String>>,
    replacement: Value,
    max_body_bytes: usize,
}

impl Plugin for HttpBody {
    type Config = Config;
    type Filter = BodyFilter;

    fn configure(config: Config, _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        if config.redact.is_empty() {
            return Err(ConfigError::field("redact", "name at least one field"));
        }
        let mut paths = Vec::new();
        for (i, path) in config.redact.iter().enumerate() {
            let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
            if segments.iter().any(String::is_empty) {
                return Err(ConfigError::field(
                    format!("redact[{i}]"),
                    format!("{path:?} has an empty segment"),
                ));
            }
            paths.push(segments);
        }
        // Envoy refuses to buffer more than its buffer limit (1 MiB by default) itself.
        if !(1..=1024 * 1024).contains(&config.max_body_bytes) {
            return Err(ConfigError::field(
                "max_body_bytes",
                "must be between 1 and 1048576",
            ));
        }
        Ok(HttpBody {
            paths,
            replacement: Value::String(config.replacement),
            max_body_bytes: config.max_body_bytes,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<BodyFilter> {
        Some(BodyFilter { plugin: self })
    }
}

/// Replaces every value at `path` below `value`; returns how many.
fn redact(value: &mut Value, path: &[String], replacement: &Value) -> usize {
    let Some((first, rest)) = path.split_first() else {
        *value = replacement.clone();
        return 1;
    };
    match value {
        Value::Object(fields) => fields
            .get_mut(first)
            .map_or(0, |v| redact(v, rest, replacement)),
        Value::Array(items) => items
            .iter_mut()
            .map(|item| redact(item, path, replacement))
            .sum(),
        _ => 0,
    }
}

fn is_json(content_type: &str) -> bool {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json" || media_type.ends_with("+json")
}

/// One per request.
pub struct BodyFilter {
    plugin: Rc<HttpBody>,
}

#[http_filter]
impl HttpFilter for BodyFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        if req.end_of_stream() {
            return Ok(Action::Continue);
        }
        let content_type = req.headers().get_str("content-type")?.unwrap_or_default();
        if !is_json(&content_type) {
            return Err(Error::with_status(
                415,
                "expected a JSON body (content-type: application/json)",
            ));
        }
        // A declared length over the limit is refused before the upstream is contacted;
        // a chunked body is measured as it arrives.
        let declared = req
            .headers()
            .get_str("content-length")?
            .and_then(|v| v.parse::<usize>().ok());
        let limit = self.plugin.max_body_bytes;
        if declared.is_some_and(|length| length > limit) {
            return Err(Error::with_status(
                413,
                format!("body larger than {limit} bytes"),
            ));
        }
        // The body's length will change: let the upstream see its real length.
        req.prepare_body_rewrite()?;
        Ok(Action::Continue)
    }

    fn on_request_body(&mut self, body: &mut RequestBodyOps<Self>) -> Result<Action, Error> {
        let plugin = &self.plugin;
        let Some(bytes) = body.buffered(plugin.max_body_bytes)? else {
            return Ok(Action::Pause);
        };
        let mut json: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::with_status(400, format!("request body is not valid JSON: {e}")))?;
        let redacted: usize = plugin
            .paths
            .iter()
            .map(|p| redact(&mut json, p, &plugin.replacement))
            .sum();
        if redacted > 0 {
            let rewritten = serde_json::to_vec(&json).map_err(|e| Error::new(e.to_string()))?;
            body.body().replace(&rewritten)?;
            log::debug!("redacted {redacted} fields");
        }
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(HttpBody);
