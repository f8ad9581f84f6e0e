//! The emulator answers a property only where Envoy 1.40 has it (the facts
//! `tests/tests/properties.rs` checks in Envoy).

use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::testing::{Emulator, Request, Response};

mod common;
use common::{Plain, configured};

/// The filter `tests/tests/properties.rs` runs in Envoy: lists the properties that have a
/// value, in header `x-attrs` of the request (upstream) and of the response.
#[path = "../../tests/filters/attributes/src/lib.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "it includes `tests/filters/plain.rs` as `common` does: two separate `Plain`s"
)]
mod attributes;

/// `route_name,request.path,response.code` as `+` (listed in `x-attrs`) or `-`, at the
/// upstream and at the client.
fn seen(envoy: &Emulator) -> (String, String) {
    let exchange = envoy.send_with(Request::get("/a"), Response::ok());
    let at = |m: &envoy_wasm_sdk::testing::Message| {
        let listed: Vec<&str> = m.header("x-attrs").unwrap_or("").split(',').collect();
        ["route_name", "request.path", "response.code"]
            .iter()
            .map(|path| if listed.contains(path) { '+' } else { '-' })
            .collect()
    };
    (at(exchange.upstream()), at(exchange.response()))
}

#[test]
fn attributes_follow_envoys_phases_and_hosts() {
    let envoy = configured(attributes::register_plugin);
    // A test may set `route_name`, but upstream Envoy has no such attribute: not served.
    envoy.set_property(&["route_name"], "r1");
    // route_name, request.path, response.code: the request line only before the
    // response, the status only after.
    assert_eq!(seen(&envoy), ("-+-".to_owned(), "--+".to_owned()));
    // Emulating a host that has it (Higress's Envoy), it is served.
    envoy.declare_host_attribute(&["route_name"]);
    assert_eq!(seen(&envoy), ("++-".to_owned(), "+-+".to_owned()));
}

mod typed {
    use super::*;

    #[derive(Default)]
    pub struct ReadTyped;

    #[http_filter(stateless)]
    impl HttpFilter for ReadTyped {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            // A map-valued path no table names, typed; and a number at another path.
            let map: Option<HeaderList> = req.properties().get_as(&["custom", "map"])?;
            let pairs: Vec<String> = map
                .unwrap_or_default()
                .to_strings()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req.headers().set("x-map", pairs.join(","))?;
            let port: Option<i64> = req.properties().get_as(&["source", "port"])?;
            req.headers()
                .set("x-port", port.unwrap_or(-1).to_string())?;
            Ok(Action::Continue)
        }
    }

    envoy_wasm_sdk::entry!(Plain<ReadTyped>);
}

#[test]
fn a_map_valued_property_reads_typed() {
    let envoy = configured(typed::register_plugin);
    envoy.set_property(
        &["custom", "map"],
        envoy_wasm_sdk::abi::pairs::encode(&[("a", "1"), ("b", "2")]),
    );
    let exchange = envoy.send(Request::get("/"));
    assert_eq!(exchange.upstream().header("x-map"), Some("a=1,b=2"));
    assert_ne!(exchange.upstream().header("x-port"), Some("-1"));
}
