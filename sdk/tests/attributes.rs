//! The emulator answers an attribute only where Envoy 1.40 has it (the facts
//! `tests/tests/attributes.rs` checks in Envoy).

use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::testing::{Emulator, Request, Response};
use std::rc::Rc;

mod reader {
    use super::*;

    pub struct Reader;

    impl Plugin for Reader {
        type Config = ();
        type Filter = Read;
        fn configure(_: (), _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
            Ok(Reader)
        }
        fn create_filter(self: Rc<Self>) -> Read {
            Read
        }
    }

    pub struct Read;

    /// `route_name,request.path,response.code` as `+` (has a value) or `-`.
    fn seen(props: &Properties<'_>) -> Result<String, Error> {
        let mut marks = String::new();
        for path in [
            &["route_name"][..],
            &["request", "path"],
            &["response", "code"],
        ] {
            marks.push(if props.get(path)?.is_some() { '+' } else { '-' });
        }
        Ok(marks)
    }

    #[http_filter(stateless)]
    impl HttpFilter for Read {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let marks = seen(&req.properties())?;
            req.headers().set("x-seen", marks)?;
            Ok(Action::Continue)
        }

        fn on_response_headers(
            &mut self,
            resp: &mut ResponseHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let marks = seen(&resp.properties())?;
            resp.headers().set("x-seen", marks)?;
            Ok(Action::Continue)
        }
    }

    envoy_wasm_sdk::entry!(Reader);
}

fn seen(envoy: &Emulator) -> (String, String) {
    let exchange = envoy.send_with(Request::get("/a"), Response::ok());
    let at = |m: &envoy_wasm_sdk::testing::Message| m.header("x-seen").unwrap_or("").to_owned();
    (at(exchange.upstream()), at(exchange.response()))
}

#[test]
fn attributes_follow_envoys_phases_and_hosts() {
    let envoy = Emulator::new(reader::register_plugin);
    envoy.configure("").unwrap();
    // A test may set `route_name`, but upstream Envoy has no such attribute: not served.
    envoy.set_property(&["route_name"], "r1");
    // route_name, request.path, response.code: the request line only before the
    // response, the status only after.
    assert_eq!(seen(&envoy), ("-+-".to_owned(), "--+".to_owned()));
    // Emulating a host that has it (Higress's Envoy), it is served.
    envoy.declare_host_attribute(&["route_name"]);
    assert_eq!(seen(&envoy), ("++-".to_owned(), "+-+".to_owned()));
}
