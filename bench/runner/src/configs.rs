//! The configurations under comparison and the Envoy filter each puts before the router.

use envoy_tests::project_root;
use std::path::{Path, PathBuf};

/// A workload: what every configuration does per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Read `:path` on the request, add one response header.
    Header,
    /// Read 5 request headers, set 2 request headers, add 1 response header.
    Multi,
    /// Buffer the JSON request body, redact two fields, forward it.
    Body,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Header => "header",
            Workload::Multi => "multi",
            Workload::Body => "body",
        }
    }
}

/// One column of the comparison.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: &'static str,
    /// The `http_filters` entries (YAML, indented for the fixture), empty for none.
    pub filters: String,
    /// The module loaded, for wasm configurations.
    pub wasm: Option<PathBuf>,
    /// The shared library loaded, for a dynamic module.
    pub library: Option<PathBuf>,
    /// The response header value the filter adds, checked before measuring.
    pub marker: Option<&'static str>,
}

pub const NO_FILTER: &str = "no filter";
pub const PEER: &str = "proxy-wasm 0.2.5";
pub const GO_PEER: &str = "proxy-wasm-go-sdk";
pub const OURS: &str = "envoy-wasm-sdk";
pub const OURS_STATEFUL: &str = "envoy-wasm-sdk, stateful";
pub const OURS_LOGGED: &str = "envoy-wasm-sdk, a log line with the request id";
pub const OURS_LOGGED_PLAIN: &str = "envoy-wasm-sdk, a log line without it";
pub const FLOOR: &str = "hand-written ABI";
pub const OURS_NATIVE: &str = "envoy-wasm-sdk, native (dynamic module)";
pub const NATIVE_FLOOR: &str = "hand-written dynamic module";
pub const HEADER_MUTATION: &str = "header_mutation (native)";

/// Every configuration that can express `workload`, the floor first.
pub fn configs(workload: Workload) -> Vec<Config> {
    let marker = Some(workload.name());
    let none = Config {
        name: NO_FILTER,
        filters: String::new(),
        wasm: None,
        library: None,
        marker: None,
    };
    let peer = wasm_config(PEER, peer_module(workload), "", marker);
    let ours = wasm_config(OURS, sdk_module(workload), "", marker);
    let native = native_config(workload, marker);
    match workload {
        Workload::Body => vec![none, peer, ours, native, native_floor(workload, marker)],
        Workload::Header | Workload::Multi => {
            let mut rows = vec![
                none,
                wasm_config(
                    "empty wasm module",
                    workspace_module("bench_empty.wasm"),
                    "",
                    None,
                ),
                Config {
                    name: HEADER_MUTATION,
                    filters: header_mutation(workload),
                    wasm: None,
                    library: None,
                    marker,
                },
                Config {
                    name: "Lua",
                    filters: lua(workload),
                    wasm: None,
                    library: None,
                    marker,
                },
                peer,
            ];
            rows.extend(go_peer(workload, marker));
            rows.extend([
                wasm_config(
                    FLOOR,
                    workspace_module("bench_floor.wasm"),
                    workload.name(),
                    marker,
                ),
                ours,
                wasm_config(
                    OURS_STATEFUL,
                    workspace_module(&format!("examples/sdk_{}_stateful.wasm", workload.name())),
                    "",
                    marker,
                ),
                native,
                native_floor(workload, marker),
            ]);
            if workload == Workload::Header {
                // The log prefix's cost: the same line, with and without the request id.
                for (name, module) in [
                    (OURS_LOGGED, "sdk_header_logged"),
                    (OURS_LOGGED_PLAIN, "sdk_header_logged_plain"),
                ] {
                    let module = workspace_module(&format!("examples/{module}.wasm"));
                    rows.push(wasm_config(name, module, "", marker));
                }
            }
            rows
        }
    }
}

/// The workload on proxy-wasm-go-sdk (`bench/peers/proxy_wasm_go`): one module for both
/// workloads, picked by the plugin configuration. Go is optional: `scripts/bench.sh` builds
/// the module only where `go` is installed, so without the module the row is left out (and
/// said so) rather than failing the run.
fn go_peer(workload: Workload, marker: Option<&'static str>) -> Option<Config> {
    let module = go_peer_module();
    if !module.is_file() {
        eprintln!(
            "note: no {GO_PEER} row for {}: {} is missing (scripts/bench.sh builds it when `go` is installed)",
            workload.name(),
            module.display()
        );
        return None;
    }
    Some(wasm_config(GO_PEER, module, workload.name(), marker))
}

/// The workload as a dynamic module written against Envoy's C ABI by hand
/// (`bench/filters/native_floor`): the native target's floor.
fn native_floor(workload: Workload, marker: Option<&'static str>) -> Config {
    let library = project_root().join("target/native/libbench_native_floor.so");
    Config {
        name: NATIVE_FLOOR,
        filters: dynamic_module_filter(&library, workload.name()),
        wasm: None,
        library: Some(library),
        marker,
    }
}

/// A `dynamic_modules` HTTP filter loading `library` with configuration `configuration`.
fn dynamic_module_filter(library: &Path, configuration: &str) -> String {
    format!(
        r#"          - name: envoy.filters.http.dynamic_modules
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter
              dynamic_module_config:
                name: bench
                metrics_namespace: wasmcustom
                module: {{ local: {{ filename: "{}" }} }}
              filter_name: bench
              filter_config:
                "@type": type.googleapis.com/google.protobuf.StringValue
                value: "{configuration}"
"#,
        library.display()
    )
}

/// The SDK's workload module built as an Envoy dynamic module.
fn native_config(workload: Workload, marker: Option<&'static str>) -> Config {
    let library = project_root()
        .join("target/native/examples")
        .join(format!("libsdk_{}.so", workload.name()));
    let filters = dynamic_module_filter(&library, "");
    Config {
        name: OURS_NATIVE,
        filters,
        wasm: None,
        library: Some(library),
        marker,
    }
}

fn workspace_module(file: &str) -> PathBuf {
    project_root()
        .join("target/wasm32-wasip1/release")
        .join(file)
}

fn sdk_module(workload: Workload) -> PathBuf {
    workspace_module(&format!("examples/sdk_{}.wasm", workload.name()))
}

fn peer_module(workload: Workload) -> PathBuf {
    project_root()
        .join("bench/peers/proxy_wasm_bench/target/wasm32-wasip1/release/examples")
        .join(format!("peer_{}.wasm", workload.name()))
}

/// Built by `scripts/bench.sh` (`go build -buildmode=c-shared`) into the workspace's
/// `target/`, which git ignores.
fn go_peer_module() -> PathBuf {
    project_root().join("target/go-peer/proxy_wasm_go.wasm")
}

fn wasm_config(
    name: &'static str,
    module: PathBuf,
    configuration: &str,
    marker: Option<&'static str>,
) -> Config {
    let filters = format!(
        r#"          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: bench
                root_id: bench
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: "{configuration}"
                vm_config:
                  vm_id: bench
                  code: {{ local: {{ filename: "{}" }} }}
"#,
        module.display()
    );
    Config {
        name,
        filters,
        wasm: Some(module),
        library: None,
        marker,
    }
}

fn header_mutation(workload: Workload) -> String {
    let request = match workload {
        Workload::Multi => {
            r#"                request_mutations:
                - append:
                    header: { key: x-target, value: "%REQ(:METHOD)% %REQ(:AUTHORITY)%%REQ(:PATH)%" }
                    append_action: OVERWRITE_IF_EXISTS_OR_ADD
                - append:
                    header: { key: x-route, value: "%REQ(x-b1)%/%REQ(x-b2)%" }
                    append_action: OVERWRITE_IF_EXISTS_OR_ADD
"#
        }
        // It cannot inspect `:path`; it only adds the header.
        _ => "",
    };
    format!(
        r#"          - name: envoy.filters.http.header_mutation
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation
              mutations:
{request}                response_mutations:
                - append:
                    header: {{ key: x-bench, value: {} }}
                    append_action: APPEND_IF_EXISTS_OR_ADD
"#,
        workload.name()
    )
}

fn lua(workload: Workload) -> String {
    let on_request = match workload {
        Workload::Multi => {
            r#"function envoy_on_request(handle)
                    local headers = handle:headers()
                    local method = headers:get(":method") or ""
                    local authority = headers:get(":authority") or ""
                    local path = headers:get(":path") or ""
                    local b1 = headers:get("x-b1") or ""
                    local b2 = headers:get("x-b2") or ""
                    headers:replace("x-target", method .. " " .. authority .. path)
                    headers:replace("x-route", b1 .. "/" .. b2)
                  end"#
        }
        _ => {
            r#"function envoy_on_request(handle)
                    local path = handle:headers():get(":path")
                    if path == nil or string.sub(path, 1, 1) ~= "/" then
                      handle:respond({[":status"] = "400"}, "bad path")
                    end
                  end"#
        }
    };
    format!(
        r#"          - name: envoy.filters.http.lua
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
              default_source_code:
                inline_string: |
                  {on_request}
                  function envoy_on_response(handle)
                    handle:headers():add("x-bench", "{}")
                  end
"#,
        workload.name()
    )
}
