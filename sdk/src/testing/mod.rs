//! Unit-test filters without Envoy: an in-process proxy-wasm host with Envoy's semantics.
//!
//! Enable the `testing` feature in your filter's dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! envoy-wasm-sdk = { path = "../../sdk", features = ["testing"] }
//! ```
//!
//! An [`Emulator`] loads your plugin through the same exports Envoy calls, configures it, and
//! drives requests through it. A test reads like the scenario it checks: a request in, the
//! request the upstream receives and the response the client receives out.
//!
//! ```
//! use envoy_wasm_sdk::prelude::*;
//! use envoy_wasm_sdk::testing::{Emulator, Request, Response};
//! use std::rc::Rc;
//!
//! // A filter (normally in your crate's lib.rs).
//! struct Tagger;
//! impl Plugin for Tagger {
//!     type Config = String;
//!     type Filter = TagFilter;
//!     fn configure(tag: String, _: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
//!         if tag.is_empty() {
//!             return Err(ConfigError::new("the tag must not be empty"));
//!         }
//!         Ok(Tagger)
//!     }
//!     fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<TagFilter> {
//!         Some(TagFilter)
//!     }
//! }
//! struct TagFilter;
//! #[http_filter]
//! impl HttpFilter for TagFilter {
//!     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
//!         if !req.headers().contains("x-user")? {
//!             return Err(Error::with_status(401, "who are you?"));
//!         }
//!         req.headers().set("x-tagged", "yes")?;
//!         Ok(Action::Continue)
//!     }
//! }
//! envoy_wasm_sdk::entry!(Tagger);
//!
//! // The tests.
//! let envoy = Emulator::new(register_plugin);
//! envoy.configure("blue").unwrap();
//!
//! let exchange = envoy.send(Request::get("/").header("x-user", "ann"));
//! assert_eq!(exchange.upstream().header("x-tagged"), Some("yes"));
//! assert_eq!(exchange.response().status(), Some(200));
//!
//! let refused = envoy.send_with(Request::get("/"), Response::ok());
//! assert!(!refused.reached_upstream());
//! assert_eq!(refused.response().status(), Some(401));
//! assert_eq!(refused.response().body_text(), "who are you?\n");
//! assert!(envoy.logged("on_request_headers failed: who are you?"));
//!
//! // A bad configuration is refused, and the reason is observable.
//! drop(envoy); // one emulator per thread at a time
//! let failed = Emulator::new(register_plugin).configure("").unwrap_err();
//! assert!(failed.to_string().contains("the tag must not be empty"));
//! ```
//!
//! For filters that pause, call out or buffer, drive a stream a callback at a time with
//! [`Emulator::stream`]; script the environment with [`Emulator::set_property`],
//! [`Emulator::advance`] (time and timer ticks), [`Emulator::respond_http_call`] and
//! friends (callouts), shared data and queues.
//!
//! Each emulator installs its host on the current thread, and `cargo test` runs each test on
//! its own thread, so tests run in parallel without sharing anything. One emulator per
//! thread at a time.
//!
//! # The artifact, too
//!
//! [`Emulator::from_wasm`] runs the compiled `.wasm` instead, in an embedded VM served by
//! the same host, and [`emulator_test`] runs one test body both ways:
//!
//! ```ignore
//! #[envoy_wasm_sdk::testing::emulator_test]
//! fn tags_the_request() {
//!     let envoy = Emulator::new(my_filter::register_plugin); // the .wasm in the second run
//!     envoy.configure("blue").unwrap();
//!     assert_eq!(envoy.send(Request::get("/")).upstream().header("x-tagged"), Some("yes"));
//! }
//! ```
//!
//! Build the module first (`cargo build --release --target wasm32-wasip1`). In the VM a
//! panic aborts, as in Envoy: see [`Emulator::vm_failure`].

mod callouts;
mod configure;
mod contexts;
mod environment;
mod foreign;
mod guest;
mod guest_calls;
mod harness;
mod host;
mod http;
mod load;
mod observe;
mod routes;
mod shared;
mod tcp;
mod traffic;
mod wasm;

/// Envoy's types a test names: a log line's level, a host call's status, the side that
/// closed a connection (the same types the raw layer uses, so no `abi` import is needed).
pub use crate::abi::{LogLevel, PeerType, Status};
pub use callouts::{CalloutReply, GrpcReply};
pub use configure::ConfigureFailed;
pub use envoy_wasm_sdk_macros::emulator_test;
pub use harness::{SHIPPED_CRATE, SHIPPED_MODULE, on_wasm};
pub use host::{ForeignFunction, GrpcCall, HttpCall, LogRecord, Metric, SentReply};
pub use http::{Exchange, HttpStream, Message, Request, Response};
pub use tcp::TcpConnection;

use crate::abi::imports::install_host;
use callouts::{GrpcResponder, HttpResponder};
use guest::Guest;
use host::EmulatorHost;
use routes::Router;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A configured plugin (root context) of the emulated VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PluginId(u32);

/// The emulated Envoy: one VM with the plugin a filter crate registers; see the
/// [module docs](self).
pub struct Emulator {
    host: Rc<EmulatorHost>,
    guest: Guest,
    /// Why the VM failed (a trap), if it has: Envoy calls it no more.
    vm_failure: RefCell<Option<String>>,
    default_plugin: Cell<Option<u32>>,
    next_context: Cell<u32>,
    /// When each plugin's tick last ran.
    last_tick: RefCell<HashMap<u32, u64>>,
    answered: RefCell<HashSet<u32>>,
    http_responder: RefCell<Option<HttpResponder>>,
    grpc_responder: RefCell<Option<GrpcResponder>>,
    router: Router,
    route_cache_clears: Rc<Cell<u32>>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        crate::runtime::seam::unregister();
        install_host(None);
    }
}
