//! Who the emulator calls: the filter crate linked into the test (native), or its compiled
//! module in a VM ([`wasm`](super::wasm)). Both are called by export name, as Envoy does.

use super::wasm::WasmVm;
use crate::runtime::seam::{self, callouts, lifecycle, network, root, stream};

/// The filter under test.
pub(crate) enum Guest {
    /// The crate itself, through the runtime's exports.
    Native,
    /// Its `.wasm`, in a VM.
    Wasm(Box<WasmVm>),
}

/// Callbacks `#[http_filter]` and `#[network_filter]` export only when the filter needs
/// them; the SDK exports every other callback itself.
fn exported_by_the_filter(name: &str) -> bool {
    name.starts_with("proxy_on_request_")
        || name.starts_with("proxy_on_response_")
        || name.starts_with("proxy_on_downstream_")
        || name.starts_with("proxy_on_upstream_")
        || matches!(name, "proxy_on_new_connection" | "proxy_on_log")
}

impl Guest {
    /// Whether the module exports callback `name` (Envoy calls only those).
    pub(crate) fn exports(&self, name: &str) -> bool {
        match self {
            Guest::Native => !exported_by_the_filter(name) || seam::exports(name),
            Guest::Wasm(vm) => vm.exports(name),
        }
    }

    /// Calls export `name` with `args`; its result, or the VM's trap.
    pub(crate) fn call(&self, name: &str, args: &[u64]) -> Result<u32, String> {
        match self {
            Guest::Native => Ok(call_native(name, args)),
            Guest::Wasm(vm) => vm.call(name, args),
        }
    }
}

/// The runtime's export called `name`, with `args` as the host passes them.
fn call_native(name: &str, args: &[u64]) -> u32 {
    let word = |at: usize| args.get(at).copied().unwrap_or(0) as u32;
    let size = |at: usize| args.get(at).copied().unwrap_or(0) as usize;
    match name {
        "proxy_on_vm_start" => lifecycle::proxy_on_vm_start(word(0), size(1)),
        "proxy_on_configure" => lifecycle::proxy_on_configure(word(0), size(1)),
        "proxy_on_request_headers" => stream::proxy_on_request_headers(word(0), size(1), word(2)),
        "proxy_on_request_body" => stream::proxy_on_request_body(word(0), size(1), word(2)),
        "proxy_on_request_trailers" => stream::proxy_on_request_trailers(word(0), size(1)),
        "proxy_on_response_headers" => stream::proxy_on_response_headers(word(0), size(1), word(2)),
        "proxy_on_response_body" => stream::proxy_on_response_body(word(0), size(1), word(2)),
        "proxy_on_response_trailers" => stream::proxy_on_response_trailers(word(0), size(1)),
        "proxy_on_new_connection" => network::proxy_on_new_connection(word(0)),
        "proxy_on_downstream_data" => network::proxy_on_downstream_data(word(0), size(1), word(2)),
        "proxy_on_upstream_data" => network::proxy_on_upstream_data(word(0), size(1), word(2)),
        _ => {
            call_native_without_result(name, &word, &size);
            0
        }
    }
}

/// The exports that return nothing.
fn call_native_without_result(
    name: &str,
    word: &dyn Fn(usize) -> u32,
    size: &dyn Fn(usize) -> usize,
) {
    match name {
        "proxy_on_log" => lifecycle::proxy_on_log(word(0)),
        "proxy_on_delete" => lifecycle::proxy_on_delete(word(0)),
        "proxy_on_context_create" => lifecycle::proxy_on_context_create(word(0), word(1)),
        "proxy_on_tick" => root::proxy_on_tick(word(0)),
        "proxy_on_queue_ready" => root::proxy_on_queue_ready(word(0), word(1)),
        "proxy_on_foreign_function" => root::proxy_on_foreign_function(word(0), word(1), size(2)),
        "proxy_on_downstream_connection_close" => {
            network::proxy_on_downstream_connection_close(word(0), word(1));
        }
        "proxy_on_upstream_connection_close" => {
            network::proxy_on_upstream_connection_close(word(0), word(1));
        }
        "proxy_on_http_call_response" => {
            callouts::proxy_on_http_call_response(word(0), word(1), size(2), size(3), size(4))
        }
        "proxy_on_grpc_receive_initial_metadata" => {
            callouts::proxy_on_grpc_receive_initial_metadata(word(0), word(1), size(2));
        }
        "proxy_on_grpc_receive" => callouts::proxy_on_grpc_receive(word(0), word(1), size(2)),
        "proxy_on_grpc_receive_trailing_metadata" => {
            callouts::proxy_on_grpc_receive_trailing_metadata(word(0), word(1), size(2));
        }
        "proxy_on_grpc_close" => callouts::proxy_on_grpc_close(word(0), word(1), word(2)),
        other => panic!("the emulator calls no export named {other}"),
    }
}
