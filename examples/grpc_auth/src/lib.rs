//! `grpc_auth`: asks a gRPC authorization service (`auth.v1.Authorizer/Check`, a unary call)
//! about every request. Allowed: the request goes on with `x-user`. Denied, or the service
//! answers `UNAUTHENTICATED`/`PERMISSION_DENIED`: `403`. Any other failure or no answer within
//! `timeout_ms`: `503` (fail closed). The messages are `prost` types (see [`proto`]).

pub mod proto;

use envoy_wasm_sdk::callout::{CalloutError, CalloutOps, GrpcRequest};
use envoy_wasm_sdk::grpc::GrpcStatus;
use envoy_wasm_sdk::prelude::*;
use prost::Message as _;
use proto::{CheckRequest, CheckResponse};
use schemars::JsonSchema;
use serde::Deserialize;
use std::rc::Rc;
use std::time::Duration;

/// The plugin configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The authorization service's cluster (HTTP/2) in Envoy's configuration.
    pub cluster: String,
    /// How long the call may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    500
}

/// The plugin.
pub struct GrpcAuth {
    config: Config,
}

impl Plugin for GrpcAuth {
    type Config = Config;
    type Filter = GrpcAuthFilter;

    fn configure(config: Config, _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        if config.cluster.is_empty() {
            return Err(ConfigError::field("cluster", "must name an Envoy cluster"));
        }
        if !(1..=60_000).contains(&config.timeout_ms) {
            return Err(ConfigError::field(
                "timeout_ms",
                "must be between 1 and 60000",
            ));
        }
        Ok(GrpcAuth { config })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<GrpcAuthFilter> {
        Some(GrpcAuthFilter { plugin: self })
    }
}

/// One per request.
pub struct GrpcAuthFilter {
    plugin: Rc<GrpcAuth>,
}

fn unavailable(why: String) -> Error {
    Error::with_reply(
        LocalReply::new(503)
            .body("auth service unavailable\n")
            .details("grpc_auth_unavailable"),
        why,
    )
}

fn forbidden<F: 'static>(ops: &mut CalloutOps<'_, F>) -> Result<(), Error> {
    ops.respond(
        LocalReply::new(403)
            .body("forbidden\n")
            .details("grpc_auth_denied"),
    )?;
    Ok(())
}

impl GrpcAuthFilter {
    fn decide(
        &mut self,
        response: Result<Vec<u8>, CalloutError>,
        ops: &mut CalloutOps<Self>,
    ) -> Result<(), Error> {
        match response {
            Ok(bytes) => match CheckResponse::decode(bytes.as_slice()) {
                Ok(response) if response.allowed => {
                    ops.request_headers().set("x-user", &response.user)?;
                    ops.resume_request()?;
                    Ok(())
                }
                Ok(_) => forbidden(ops),
                Err(error) => Err(unavailable(format!(
                    "the auth service sent a malformed CheckResponse: {error}"
                ))),
            },
            Err(CalloutError::Grpc {
                status: GrpcStatus::Unauthenticated | GrpcStatus::PermissionDenied,
                ..
            }) => forbidden(ops),
            Err(failure) => Err(unavailable(format!("auth service: {failure}"))),
        }
    }
}

#[http_filter]
impl HttpFilter for GrpcAuthFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        let config = &self.plugin.config;
        let check = CheckRequest {
            token: req.headers().get_str("authorization")?.unwrap_or_default(),
            path: req.headers().get_str(":path")?.unwrap_or_default(),
        };
        let call = GrpcRequest::message(&config.cluster, "auth.v1.Authorizer", "Check", &check)
            .timeout(Duration::from_millis(config.timeout_ms));
        req.grpc_call(call, GrpcAuthFilter::decide)
            .map_err(|e| unavailable(format!("cannot call the auth service: {e}")))?;
        Ok(Action::Pause)
    }
}

envoy_wasm_sdk::entry!(GrpcAuth);
