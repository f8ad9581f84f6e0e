//! A service (a plugin without streams) in the same module as the filter that feeds it:
//! `entry!(Filter, "root_id" => Service)`, typed queues between them.

use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::service::NoFilter;
use envoy_wasm_sdk::shared::{SharedQueue, TypedQueue};
use envoy_wasm_sdk::testing::{Emulator, Request};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Serialize, Deserialize, Debug)]
struct Visit {
    path: String,
}

mod common;
use common::Plain;

mod module {
    use super::*;

    #[derive(Default)]
    pub struct Feed;

    #[http_filter(stateless)]
    impl HttpFilter for Feed {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let path = req.headers().get_str(":path")?.unwrap_or_default();
            match TypedQueue::<Visit>::resolve("collector", "visits")? {
                Some(queue) => queue.enqueue(&Visit { path })?,
                None => req.headers().set("x-no-collector", "1")?,
            }
            Ok(Action::Continue)
        }
    }

    pub struct Collector {
        seen: RefCell<Vec<String>>,
    }

    impl Plugin for Collector {
        type Config = ();
        type Filter = NoFilter;
        fn configure(_: (), _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
            TypedQueue::<Visit>::register("visits")?;
            log::info!("collector configured");
            Ok(Collector {
                seen: RefCell::new(Vec::new()),
            })
        }
        fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<NoFilter> {
            Some(NoFilter)
        }
        fn on_queue_ready(&self, queue: SharedQueue, _ops: &mut PluginOps<Self>) {
            let queue = TypedQueue::<Visit>::new(queue);
            while let Ok(Some(visit)) = queue.dequeue() {
                self.seen.borrow_mut().push(visit.path);
                log::info!("collected {}", self.seen.borrow().join(","));
            }
        }
    }

    envoy_wasm_sdk::entry!(Plain<Feed>, "collector" => Collector);
}

#[test]
fn the_filter_feeds_the_service_through_a_typed_queue() {
    let envoy = Emulator::new(module::register_plugin);
    envoy.set_vm_id("collector");
    // Without the service, the queue does not exist.
    envoy.configure("").expect("the filter configures");
    let alone = envoy.send(Request::get("/early"));
    assert_eq!(alone.upstream().header("x-no-collector"), Some("1"));

    envoy
        .add_plugin("collector", "")
        .expect("the service configures");
    assert!(
        envoy.logged("collector configured"),
        "the root_id picked the service"
    );
    for path in ["/a", "/b"] {
        let exchange = envoy.send(Request::get(path));
        assert!(exchange.reached_upstream());
        assert_eq!(exchange.upstream().header("x-no-collector"), None);
    }
    assert!(envoy.logged("collected /a,/b"), "{:?}", envoy.logs());
    assert!(
        envoy.queue_items("visits").is_empty(),
        "each item taken once"
    );
}
