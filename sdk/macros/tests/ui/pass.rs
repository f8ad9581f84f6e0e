//! Each attribute as the SDK's users write it, and the callbacks it exports.

use envoy_wasm_sdk::__private::{ConnectionExports, FilterExports};
use envoy_wasm_sdk::network::{DataOps, NetworkFilter, network_filter};
use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk_macros::emulator_test;

struct Logged;

#[http_filter]
impl HttpFilter for Logged {
    fn on_request_headers(&mut self, _req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    fn on_stream_done(&mut self, _done: &mut StreamDoneOps) {}
}

struct Nothing;

#[http_filter(stateless)]
impl HttpFilter for Nothing {}

struct Upstream;

#[network_filter]
impl NetworkFilter for Upstream {
    fn on_upstream_data(&mut self, _data: &mut DataOps) -> Result<Action, Error> {
        Ok(Action::Continue)
    }
}

#[emulator_test]
#[ignore = "only its expansion is tested"]
fn a_test() {
    assert_eq!(1 + 1, 2);
}

fn main() {
    assert!(!Logged::STATELESS);
    assert_eq!(
        Logged::EXPORTS,
        ["proxy_on_request_headers", "proxy_on_log"]
    );
    assert!(Nothing::STATELESS);
    assert!(Nothing::EXPORTS.is_empty());
    assert_eq!(
        <Upstream as ConnectionExports>::EXPORTS,
        [
            "proxy_on_new_connection",
            "proxy_on_upstream_data",
            "proxy_on_downstream_connection_close"
        ]
    );
}
