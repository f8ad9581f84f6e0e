//! body: buffer the JSON request body, replace the top-level `password` and `card`,
//! forward the rewritten body.

use envoy_wasm_sdk::prelude::*;
use serde_json::Value;

/// Envoy is configured to buffer up to 4 MiB for this benchmark.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Default)]
pub struct BodyFilter;

#[http_filter(stateless)]
impl HttpFilter for BodyFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        if !req.end_of_stream() {
            req.prepare_body_rewrite()?;
        }
        Ok(Action::Continue)
    }

    fn on_request_body(&mut self, body: &mut RequestBodyOps<Self>) -> Result<Action, Error> {
        let Some(bytes) = body.buffered(MAX_BODY_BYTES)? else {
            return Ok(Action::Pause);
        };
        let mut json: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::with_status(400, format!("invalid JSON: {e}")))?;
        if let Some(fields) = json.as_object_mut() {
            for name in ["password", "card"] {
                if let Some(value) = fields.get_mut(name) {
                    *value = Value::from("[redacted]");
                }
            }
        }
        let rewritten = serde_json::to_vec(&json).map_err(|e| Error::new(e.to_string()))?;
        body.body().replace(&rewritten)?;
        Ok(Action::Continue)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        resp.headers().add("x-bench", "body")?;
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(bench_sdk::Bench<BodyFilter>);
