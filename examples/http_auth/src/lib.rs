//! `http_auth`: asks an auth service (an Envoy cluster) about every request before it goes
//! upstream.
//!
//! - the service answers `200`: the request goes on, with the service's `copy_headers`
//!   (such as `x-user`) added;
//! - `401` or `403`: the client gets `403 forbidden`;
//! - anything else, a failure, or no answer within `timeout_ms`: the client gets
//!   `503 auth service unavailable` (fail closed).
//!
//! Counters `http_auth.allowed`, `http_auth.denied` and `http_auth.failed` show in Envoy's
//! stats, and the labelled family `http_auth.users` counts allowed requests by the
//! service's `x-user` (label `user`), on both targets (see the SDK's `metrics` docs for the
//! names each target gives it).

use envoy_wasm_sdk::callout::{CalloutError, CalloutOps, HttpRequest, HttpResponse};
use envoy_wasm_sdk::config::check_header_name;
use envoy_wasm_sdk::metrics::{Counter, CounterVec};
use envoy_wasm_sdk::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use std::rc::Rc;
use std::time::Duration;

/// The plugin configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The auth service's cluster in Envoy's configuration.
    pub cluster: String,
    /// The path the check is sent to.
    #[serde(default = "default_path")]
    pub path: String,
    /// How long the check may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Request headers sent along with the check.
    #[serde(default = "default_forward_headers")]
    pub forward_headers: Vec<String>,
    /// Headers of the service's `200` answer copied onto the request.
    #[serde(default)]
    pub copy_headers: Vec<String>,
}

fn default_path() -> String {
    "/check".into()
}

fn default_timeout_ms() -> u64 {
    500
}

fn default_forward_headers() -> Vec<String> {
    vec!["authorization".into()]
}

impl Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.cluster.is_empty() {
            return Err(ConfigError::field("cluster", "must name an Envoy cluster"));
        }
        if !self.path.starts_with('/') {
            return Err(ConfigError::field("path", "must start with /"));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(ConfigError::field(
                "timeout_ms",
                "must be between 1 and 60000",
            ));
        }
        for (i, name) in self.forward_headers.iter().enumerate() {
            check_header_name(&format!("forward_headers[{i}]"), name)?;
        }
        for (i, name) in self.copy_headers.iter().enumerate() {
            check_header_name(&format!("copy_headers[{i}]"), name)?;
        }
        Ok(())
    }
}

/// The plugin: configuration and counters, shared by every request.
pub struct HttpAuth {
    config: Config,
    allowed: Counter,
    denied: Counter,
    failed: Counter,
    users: CounterVec,
}

impl Plugin for HttpAuth {
    type Config = Config;
    type Filter = AuthFilter;

    fn configure(config: Config, _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(HttpAuth {
            allowed: Counter::define("http_auth.allowed")?,
            denied: Counter::define("http_auth.denied")?,
            failed: Counter::define("http_auth.failed")?,
            // Declared here: the native target defines a family's labels only while Envoy
            // loads the configuration.
            users: CounterVec::define("http_auth.users", &["user"])?,
            config,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<AuthFilter> {
        Some(AuthFilter { plugin: self })
    }
}

/// One per request.
pub struct AuthFilter {
    plugin: Rc<HttpAuth>,
}

fn unavailable(plugin: &HttpAuth, why: String) -> Error {
    plugin.failed.increment(1);
    let reply = LocalReply::new(503)
        .body("auth service unavailable\n")
        .details("http_auth_unavailable");
    Error::with_reply(reply, why)
}

impl AuthFilter {
    /// What the service's response means for the paused request.
    fn decide(
        &mut self,
        response: Result<HttpResponse, CalloutError>,
        ops: &mut CalloutOps<Self>,
    ) -> Result<(), Error> {
        let plugin = &self.plugin;
        match response {
            Ok(response) if response.status == 200 => {
                let mut headers = ops.request_headers();
                for name in &plugin.config.copy_headers {
                    if let Some(value) = response.header(name) {
                        headers.set(name, value)?;
                    }
                }
                plugin.allowed.increment(1);
                let user = response.header("x-user").unwrap_or("unknown");
                plugin.users.with(&[user]).increment(1);
                ops.resume_request()?;
                Ok(())
            }
            Ok(response) if matches!(response.status, 401 | 403) => {
                plugin.denied.increment(1);
                ops.respond(
                    LocalReply::new(403)
                        .body("forbidden\n")
                        .details("http_auth_denied"),
                )?;
                Ok(())
            }
            Ok(response) => Err(unavailable(
                plugin,
                format!("auth service answered {}", response.status),
            )),
            Err(failure) => Err(unavailable(plugin, format!("auth service: {failure}"))),
        }
    }
}

#[http_filter]
impl HttpFilter for AuthFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        let config = &self.plugin.config;
        let headers = req.headers();
        let mut check = HttpRequest::get(&config.cluster, &config.path)
            .timeout(Duration::from_millis(config.timeout_ms))
            .header("x-original-method", headers.method()?.unwrap_or_default())
            .header("x-original-path", headers.path()?.unwrap_or_default());
        for name in &config.forward_headers {
            if let Some(value) = headers.get(name)? {
                check = check.header(name, value);
            }
        }
        // A cluster Envoy does not know fails here, at once: fail closed too.
        req.http_call(check, AuthFilter::decide)
            .map_err(|e| unavailable(&self.plugin, format!("cannot call the auth service: {e}")))?;
        Ok(Action::Pause)
    }
}

envoy_wasm_sdk::entry!(HttpAuth);
