//! Test harness: a real Envoy started from the bundled YAML in `envoy/`, a real upstream
//! that echoes what it received, HTTP/1.1 and HTTP/2 clients, and for network filters a TCP
//! echo upstream and client.
//!
//! ```no_run
//! use envoy_tests::{Envoy, Plugin, Upstream};
//!
//! let upstream = Upstream::start();
//! let envoy = Envoy::start(&Plugin::new("hello_world"), &upstream).unwrap();
//! let response = envoy.http1().get(envoy.url("/")).send().unwrap();
//! assert_eq!(response.headers()["x-hello"], "world");
//! ```
//!
//! Everything started is stopped on drop, also when a test panics; Envoy's log is then
//! printed so the failure explains itself.

mod cli;
mod envoy;
mod grpc;
mod registry;
mod target;
mod tcp;
mod upstream;
mod wasm;

pub use cli::{
    CliRun, cargo_build_wasm_crate, cargo_envoy_wasm, cargo_envoy_wasm_ok, cargo_test_crate,
    cli_binary, scratch_target,
};
pub use envoy::{
    Envoy, EnvoyCommand, Exited, Plugin, WAIT, WatchedListener, example_config, http_plugin_filter,
    serve, serve_with, wait_until, with_free_listener, with_free_ports,
};
pub use grpc::GrpcCollector;
pub use registry::{Registry, RegistryOptions, free_port};
pub use target::{Target, native_path};
pub use tcp::{TcpClient, TcpEcho};
pub use upstream::{Reply, SeenRequest, Upstream, grpc_message};
pub use wasm::{project_root, wasm_path};
