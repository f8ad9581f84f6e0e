//! The emulator answers a property only where Envoy 1.40 has it (the facts
//! `tests/tests/properties.rs` checks in Envoy).

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
        fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<Read> {
            Some(Read)
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

mod typed {
    use super::*;

    pub struct Typed;

    impl Plugin for Typed {
        type Config = ();
        type Filter = ReadTyped;
        fn configure(_: (), _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
            Ok(Typed)
        }
        fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<ReadTyped> {
            Some(ReadTyped)
        }
    }

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

    envoy_wasm_sdk::entry!(Typed);
}

#[test]
fn a_map_valued_property_reads_typed() {
    let envoy = Emulator::new(typed::register_plugin);
    envoy.configure("").unwrap();
    envoy.set_property(
        &["custom", "map"],
        envoy_wasm_sdk::abi::pairs::encode(&[("a", "1"), ("b", "2")]),
    );
    let exchange = envoy.send(Request::get("/"));
    assert_eq!(exchange.upstream().header("x-map"), Some("a=1,b=2"));
    assert_ne!(exchange.upstream().header("x-port"), Some("-1"));
}
