//! Test-only filter: lists the properties that have a value, those of the SDK's table
//! ([`envoy_wasm_sdk::properties::ALL`]) and a few other hosts set, as `a.b,c.d`: in request
//! header `x-attrs` at request headers (what the upstream sees), and in response header
//! `x-attrs` at response headers (what the client sees). It uses only what both targets
//! have, so `tests/tests/properties.rs` runs it in Envoy as Wasm and natively.

use envoy_wasm_sdk::prelude::*;

#[path = "../../plain.rs"]
mod plain;
use plain::Plain;

/// Properties outside the SDK's table: Higress's Envoy sets the first two, Istio's the
/// third; upstream Envoy has none of them. And one every Envoy has.
const OTHER_ATTRIBUTES: &[&[&str]] = &[
    &["route_name"],
    &["cluster_name"],
    &["listener_direction"],
    &["node", "id"],
];

/// One per request; the plugin, `Plain`, has no configuration.
#[derive(Default)]
pub struct AttributesFilter;

#[http_filter]
impl HttpFilter for AttributesFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        let present = present(&req.properties())?;
        req.headers().set("x-attrs", present)?;
        Ok(Action::Continue)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        let present = present(&resp.properties())?;
        resp.headers().set("x-attrs", present)?;
        Ok(Action::Continue)
    }
}

/// Every property of the SDK's table, and [`OTHER_ATTRIBUTES`], that has a value now.
fn present(props: &Properties<'_>) -> Result<String, Error> {
    let mut present = Vec::new();
    for path in envoy_wasm_sdk::properties::ALL
        .iter()
        .chain(OTHER_ATTRIBUTES)
    {
        if props.get(path)?.is_some() {
            present.push(path.join("."));
        }
    }
    Ok(present.join(","))
}

envoy_wasm_sdk::entry!(Plain<AttributesFilter>);
