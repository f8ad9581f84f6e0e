//! `http_routing`: per-route rules pick what each request gets; a header can move a request
//! under `/v2`, after which Envoy routes it again (`clear_route_cache`); with `expose`, the
//! response carries what Envoy knew about the request, read as typed properties.
//!
//! ```json
//! {
//!   "default": {"tag": "default"},
//!   "rules": [
//!     {"match": {"route": "to_v2"}, "config": {"tag": "v2", "expose": true}},
//!     {"match": {"authority": "*.internal"}, "config": {"tag": "internal", "version_header": "x-version", "expose": true}}
//!   ]
//! }
//! ```

use envoy_wasm_sdk::config::check_header_name;
use envoy_wasm_sdk::foreign::{self, LifeSpan};
use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::properties::{
    REQUEST_PROTOCOL, REQUEST_TIME, RESPONSE_CODE, SOURCE_PORT, XDS_CLUSTER_NAME, XDS_ROUTE_NAME,
};
use envoy_wasm_sdk::routes::PerRoute;
use schemars::JsonSchema;
use serde::Deserialize;
use std::rc::Rc;

/// What a route gets.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Put on the request and the response as `x-routing-rule`.
    pub tag: String,
    /// A request carrying this header with value `v2` moves under `/v2` and is routed again.
    pub version_header: Option<String>,
    /// Add `x-routing-*` headers describing the request to the response.
    pub expose: bool,
}

/// The plugin.
pub struct HttpRouting {
    routes: PerRoute<RouteConfig>,
}

impl Plugin for HttpRouting {
    type Config = PerRoute<RouteConfig>;
    type Filter = RoutingFilter;

    fn configure(
        routes: PerRoute<RouteConfig>,
        _ctx: &mut ConfigureOps<Self>,
    ) -> Result<Self, ConfigError> {
        routes.validate(|config, field| {
            if config.tag.is_empty() {
                return Err(ConfigError::field(
                    format!("{field}.tag"),
                    "must not be empty",
                ));
            }
            if let Some(name) = &config.version_header {
                check_header_name(&format!("{field}.version_header"), name)?;
            }
            Ok(())
        })?;
        Ok(HttpRouting { routes })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<RoutingFilter> {
        Some(RoutingFilter {
            plugin: self,
            config: None,
        })
    }
}

/// One per request.
pub struct RoutingFilter {
    plugin: Rc<HttpRouting>,
    config: Option<RouteConfig>,
}

#[http_filter]
impl HttpFilter for RoutingFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        let config = self.plugin.routes.select(req)?.clone();
        req.headers().set("x-routing-rule", &config.tag)?;
        if let Some(header) = &config.version_header {
            let path = req.headers().get_str(":path")?.unwrap_or_default();
            if req.headers().get_str(header)?.as_deref() == Some("v2") && !path.starts_with("/v2/")
            {
                req.headers().set(":path", format!("/v2{path}"))?;
                // The route was chosen for the old path: have Envoy choose again.
                req.clear_route_cache()?;
                if let Err(error) =
                    foreign::set_filter_state("envoy.string", "v2", LifeSpan::DownstreamRequest)
                {
                    log::warn!("cannot set filter state: {error}");
                }
            }
        }
        self.config = Some(config);
        Ok(Action::Continue)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        let Some(config) = &self.config else {
            return Ok(Action::Continue);
        };
        resp.headers().set("x-routing-rule", &config.tag)?;
        if config.expose {
            let now = resp.now()?;
            let props = resp.properties();
            let route = props.get(XDS_ROUTE_NAME)?.unwrap_or_default();
            let cluster = props.get(XDS_CLUSTER_NAME)?.unwrap_or_default();
            let port = props.get(SOURCE_PORT)?.unwrap_or(0);
            let protocol = props.get(REQUEST_PROTOCOL)?.unwrap_or_default();
            let code = props.get(RESPONSE_CODE)?.unwrap_or(0);
            let age = props
                .get(REQUEST_TIME)?
                .and_then(|at| now.duration_since(at).ok())
                .map_or(-1, |age| age.as_millis() as i64);
            let state = props
                .get_string(&["filter_state", "envoy.string"])?
                .unwrap_or_default();
            let mut headers = resp.headers();
            headers.set("x-routing-route", route)?;
            headers.set("x-routing-cluster", cluster)?;
            headers.set("x-routing-source-port", port.to_string())?;
            headers.set("x-routing-protocol", protocol)?;
            headers.set("x-routing-code", code.to_string())?;
            headers.set("x-routing-request-age-ms", age.to_string())?;
            headers.set("x-routing-filter-state", state)?;
        }
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(HttpRouting);
