//! The topologies Envoy and Istio build, in a real Envoy: several configurations of one
//! module in one VM (Istio renders two `WasmPlugin`s from one image as two filters with
//! the same code, no `vm_id`, `root_id` = the plugin name), an HTTP and a network plugin in
//! one VM, stateless filters, a plugin's own callouts, a plain-text configuration, the VM's
//! configuration, the log prefix in every phase; each with two workers where it matters.
//! Every stream and connection must run with the plugin context Envoy created it under.

use envoy_tests::{
    Envoy, Reply, TcpClient, TcpEcho, Upstream, WAIT, project_root, wait_until, wasm_path,
};
use std::path::Path;

/// One Wasm filter: `name`, `root_id` (none if `None`), its configuration, and the VM's
/// configuration (none if `None`). No `vm_id`, as Istio renders it: filters with the same
/// code and VM configuration share a VM.
struct Wasm<'a> {
    name: &'a str,
    root_id: Option<&'a str>,
    config: &'a str,
    vm_config: Option<&'a str>,
}

impl<'a> Wasm<'a> {
    fn new(name: &'a str, root_id: Option<&'a str>, config: &'a str) -> Wasm<'a> {
        Wasm {
            name,
            root_id,
            config,
            vm_config: None,
        }
    }

    fn vm_config(mut self, vm_config: &'a str) -> Wasm<'a> {
        self.vm_config = Some(vm_config);
        self
    }

    /// The filter's YAML, indented by `indent` spaces, of filter type `kind` (`http` or
    /// `network`), loading `module`.
    fn yaml(&self, kind: &str, module: &Path, indent: usize) -> String {
        let json = |text: &str| serde_json::to_string(text).unwrap();
        let string_value = "\"@type\": type.googleapis.com/google.protobuf.StringValue";
        let mut lines = vec![
            format!("- name: envoy.filters.{kind}.wasm"),
            "  typed_config:".to_owned(),
            format!(
                "    \"@type\": type.googleapis.com/envoy.extensions.filters.{kind}.wasm.v3.Wasm"
            ),
            "    config:".to_owned(),
            format!("      name: {}", json(self.name)),
        ];
        if let Some(root_id) = self.root_id {
            lines.push(format!("      root_id: {}", json(root_id)));
        }
        lines.extend([
            "      configuration:".to_owned(),
            format!("        {string_value}"),
            format!("        value: {}", json(self.config)),
            "      vm_config:".to_owned(),
            format!(
                "        code: {{ local: {{ filename: {} }} }}",
                json(&module.to_string_lossy())
            ),
        ]);
        if let Some(vm_config) = self.vm_config {
            lines.extend([
                "        configuration:".to_owned(),
                format!("          {string_value}"),
                format!("          value: {}", json(vm_config)),
            ]);
        }
        let pad = " ".repeat(indent);
        lines.iter().map(|line| format!("{pad}{line}\n")).collect()
    }
}

/// Envoy with `http` in the HTTP chain and `tcp` before `tcp_proxy`, each loading
/// `module`'s `.wasm`, with `workers` workers.
fn start(
    module: &str,
    http: &[Wasm],
    tcp: &[Wasm],
    upstream: &Upstream,
    tcp_upstream: u16,
    workers: u32,
) -> Envoy {
    let wasm = wasm_path(module);
    let http_filters: String = http.iter().map(|f| f.yaml("http", &wasm, 10)).collect();
    let tcp_filters: String = tcp.iter().map(|f| f.yaml("network", &wasm, 6)).collect();
    let template = std::fs::read_to_string(project_root().join("envoy/topology.yaml")).unwrap();
    let config = template
        .replace("${HTTP_FILTERS}\n", &http_filters)
        .replace("${TCP_FILTERS}\n", &tcp_filters)
        .replace("${UPSTREAM_PORT}", &upstream.port().to_string())
        .replace("${TCP_UPSTREAM_PORT}", &tcp_upstream.to_string());
    let workers = workers.to_string();
    Envoy::start_config_with_args(&config, &project_root(), &["--concurrency", &workers])
        .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log))
}

/// What the client and the upstream saw of one request through `envoy`'s HTTP listener,
/// over HTTP/1.1 and HTTP/2: (response `x-tag` values, upstream's `x-request-tag` values).
fn tags(envoy: &Envoy, upstream: &Upstream) -> Vec<(Vec<String>, Vec<String>)> {
    let port = envoy.listener("http").unwrap();
    [envoy.http1(), envoy.http2()]
        .into_iter()
        .map(|client| {
            let response = client
                .get(format!("http://127.0.0.1:{port}/"))
                .send()
                .unwrap();
            assert_eq!(response.status(), 200);
            let response_tags = values(&response, "x-tag");
            let seen = upstream.last_request().unwrap();
            let request_tags = seen
                .header_all("x-request-tag")
                .into_iter()
                .map(str::to_owned)
                .collect();
            (response_tags, request_tags)
        })
        .collect()
}

fn values(response: &reqwest::blocking::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Two configurations of one module in one chain (a mesh default and a namespace
/// override, say), each serving its own streams: the upstream sees both tags in chain
/// order, the client both in reverse (the response runs the chain backwards).
fn two_in_one_chain(root_ids: [Option<&str>; 2]) {
    let upstream = Upstream::start();
    let tcp = TcpEcho::start();
    let a = Wasm::new("istio-system.defaults", root_ids[0], r#"{"tag": "a"}"#);
    let b = Wasm::new("shop.override", root_ids[1], r#"{"tag": "b"}"#);
    let envoy = start("binding", &[a, b], &[], &upstream, tcp.port(), 2);
    for (response, request) in tags(&envoy, &upstream) {
        assert_eq!(request, ["a", "b"], "{}", envoy.log());
        assert_eq!(response, ["b", "a"], "{}", envoy.log());
    }
    // One VM per worker holds both: each configured its own plugin context.
    for tag in ["a", "b"] {
        assert!(envoy.wait_for_log(&format!("configured tag {tag} as plugin")));
    }
    // What Envoy said (shown with `--nocapture`).
    for line in envoy.log().lines().filter(|l| l.contains("wasm log")) {
        eprintln!("{}", line.split_once("] ").map_or(line, |(_, rest)| rest));
    }
}

#[test]
fn two_configurations_with_the_same_root_id_each_serve_their_streams() {
    // Istio's rendering: root_id is the WasmPlugin's name, the same module for both.
    two_in_one_chain([Some("binding"), Some("binding")]);
}

#[test]
fn two_configurations_with_different_root_ids_each_serve_their_streams() {
    two_in_one_chain([Some("first"), Some("second")]);
}

#[test]
fn two_configurations_without_root_ids_each_serve_their_streams() {
    two_in_one_chain([None, None]);
}

/// The issue's own reproduction: `examples/http_headers` twice in one chain, as Istio
/// renders two WasmPlugins of one image, one setting `x-plugin-a`, the other `x-plugin-b`.
#[test]
fn the_http_headers_example_twice_in_one_chain_applies_both_configurations() {
    let upstream = Upstream::start();
    let tcp = TcpEcho::start();
    let rule = |name: &str| {
        format!(r#"{{"response": {{"set": [{{"name": "{name}", "value": "yes"}}]}}}}"#)
    };
    let (a, b) = (rule("x-plugin-a"), rule("x-plugin-b"));
    let filters = [
        Wasm::new("istio-system.headers-default", Some("http_headers"), &a),
        Wasm::new("shop.headers-override", Some("http_headers"), &b),
    ];
    let envoy = start("http_headers", &filters, &[], &upstream, tcp.port(), 2);
    let port = envoy.listener("http").unwrap();
    for client in [envoy.http1(), envoy.http2()] {
        let response = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(values(&response, "x-plugin-a"), ["yes"], "{}", envoy.log());
        assert_eq!(values(&response, "x-plugin-b"), ["yes"], "{}", envoy.log());
    }
}

/// An HTTP plugin and a network plugin of one module in one VM, with the same root id:
/// connections run the network plugin's configuration, streams the HTTP plugin's.
#[test]
fn an_http_and_a_network_plugin_in_one_vm_each_serve_their_own() {
    let upstream = Upstream::start();
    let tcp = TcpEcho::start();
    let http = Wasm::new("web", Some("binding"), r#"{"tag": "http"}"#);
    let network = Wasm::new("raw", Some("binding"), r#"{"tag": "tcp"}"#);
    let envoy = start("binding", &[http], &[network], &upstream, tcp.port(), 2);
    for (response, request) in tags(&envoy, &upstream) {
        assert_eq!(response, ["http"]);
        assert_eq!(request, ["http"]);
    }
    let mut client = TcpClient::connect(envoy.listener("tcp").unwrap());
    client.send(b"hello\n");
    let echoed = client.read(b"tcp:hello\n".len());
    assert_eq!(
        String::from_utf8_lossy(&echoed),
        "tcp:hello\n",
        "{}",
        envoy.log()
    );
}

/// A plugin that declines: its streams and connections run no filter, the others' do.
#[test]
fn a_plugin_that_declines_runs_no_filter_for_its_streams_and_connections() {
    let upstream = Upstream::start();
    let tcp = TcpEcho::start();
    let declining = r#"{"tag": "no", "decline": true}"#;
    let http = [
        Wasm::new("declines", Some("binding"), declining),
        Wasm::new("serves", Some("binding"), r#"{"tag": "yes"}"#),
    ];
    let network = [Wasm::new("declines-tcp", Some("binding"), declining)];
    let envoy = start("binding", &http, &network, &upstream, tcp.port(), 1);
    for (response, request) in tags(&envoy, &upstream) {
        assert_eq!(response, ["yes"]);
        assert_eq!(request, ["yes"]);
    }
    assert!(envoy.wait_for_log("declined stream"));
    let mut client = TcpClient::connect(envoy.listener("tcp").unwrap());
    client.send(b"plain\n");
    assert_eq!(client.read(b"plain\n".len()), b"plain\n", "untouched");
    assert!(envoy.wait_for_log("declined connection"));
}

/// A stateless filter with two configurations (plain text, the same root id) in one
/// chain: each configuration decides for its own streams; one declines, one serves.
#[test]
fn a_stateless_filter_with_two_configurations_runs_each_for_its_streams() {
    let upstream = Upstream::start();
    let tcp = TcpEcho::start();
    let filters = [
        Wasm::new("first", Some("stateless"), "decline:first"),
        Wasm::new("second", Some("stateless"), "serve:second"),
    ];
    let envoy = start("stateless", &filters, &[], &upstream, tcp.port(), 2);
    let port = envoy.listener("http").unwrap();
    for _ in 0..3 {
        let response = envoy
            .http1()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            values(&response, "x-stateless"),
            ["yes"],
            "only `second` serves"
        );
    }
    for name in ["first", "second"] {
        let stat = format!("wasmcustom.binding.{name}.asked");
        assert!(
            wait_until(|| envoy.stat(&stat) == Some(3)),
            "{stat}: {:?}",
            envoy.stat(&stat)
        );
    }
    // The plugin turned its log prefix off: its lines carry no request id.
    let log = envoy.log();
    let line = log
        .lines()
        .find(|l| l.contains("stateless response headers"))
        .unwrap();
    assert!(line.ends_with(": stateless response headers"), "{line}");
}

/// A plugin calls out on its own (from a timer), and its filters use the answer.
#[test]
fn a_plugin_calls_out_from_a_timer_and_its_filters_use_the_answer() {
    let upstream =
        Upstream::start_with(|seen| Reply::status(200).header("x-seen-path", &seen.path));
    let tcp = TcpEcho::start();
    let config = r#"{"tag": "keys", "refresh": {"cluster": "upstream", "path": "/keys"}}"#;
    let envoy = start(
        "binding",
        &[Wasm::new("refresher", None, config)],
        &[],
        &upstream,
        tcp.port(),
        1,
    );
    // The main thread's plugin and the worker's each call out on their own timer; the
    // worker's answer may land after the main thread's, so ask until it has.
    let port = envoy.listener("http").unwrap();
    let mut seen = Vec::new();
    let answered = wait_until(|| {
        let response = envoy
            .http1()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .unwrap();
        seen = values(&response, "x-refreshed");
        !seen.is_empty()
    });
    assert!(answered, "no request carried the answer");
    assert_eq!(seen, ["200 /keys"]);
    assert!(
        !envoy.log().contains("which nobody waits for"),
        "{}",
        envoy.log()
    );
}

/// The VM's own configuration, read by the VM-start hook, typed.
#[test]
fn the_vm_start_hook_reads_the_vm_configuration() {
    let upstream = Upstream::start();
    let tcp = TcpEcho::start();
    let filter = Wasm::new("greeter", None, r#"{"tag": "vm"}"#)
        .vm_config(r#"{"greeting": "hello from the VM"}"#);
    let envoy = start("binding", &[filter], &[], &upstream, tcp.port(), 2);
    let port = envoy.listener("http").unwrap();
    let response = envoy
        .http2()
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .unwrap();
    assert_eq!(values(&response, "x-vm"), ["hello from the VM"]);
}

/// A VM configuration the hook refuses stops Envoy, naming the field.
#[test]
fn a_bad_vm_configuration_is_refused_naming_the_field() {
    let upstream = Upstream::start();
    let tcp = TcpEcho::start();
    let filter = Wasm::new("greeter", None, r#"{"tag": "vm"}"#).vm_config(r#"{"greeting": 7}"#);
    let wasm = wasm_path("binding");
    let template = std::fs::read_to_string(project_root().join("envoy/topology.yaml")).unwrap();
    let config = template
        .replace("${HTTP_FILTERS}\n", &filter.yaml("http", &wasm, 10))
        .replace("${TCP_FILTERS}\n", "")
        .replace("${UPSTREAM_PORT}", &upstream.port().to_string())
        .replace("${TCP_UPSTREAM_PORT}", &tcp.port().to_string());
    let exited = Envoy::start_config(&config, &project_root())
        .err()
        .expect("refused");
    assert!(
        exited
            .log
            .contains("invalid VM configuration: field `greeting`: invalid type: integer `7`"),
        "{}",
        exited.log
    );
}

/// Each phase's line carries the stream's request id, read once: request headers,
/// response headers, the stream's end; also over HTTP/2 with two workers.
#[test]
fn the_log_prefix_is_in_every_phase() {
    let upstream = Upstream::start();
    let tcp = TcpEcho::start();
    let envoy = start(
        "binding",
        &[Wasm::new("logger", None, r#"{"tag": "log"}"#)],
        &[],
        &upstream,
        tcp.port(),
        2,
    );
    let port = envoy.listener("http").unwrap();
    for (client, id) in [(envoy.http1(), "id-one"), (envoy.http2(), "id-two")] {
        let response = client
            .get(format!("http://127.0.0.1:{port}/"))
            .header("x-request-id", id)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        for line in [
            "request headers log",
            "response headers log",
            "stream done log",
        ] {
            let wanted = format!("[{id}] {line}");
            assert!(
                wait_until(|| envoy.log().contains(&wanted)),
                "no `{wanted}` within {WAIT:?}:\n{}",
                envoy.log()
            );
        }
    }
}

/// The benchmark's hand-written floor is exact in the same topology (a floor that bound
/// streams to the wrong plugin would not be one): its two configurations in one chain,
/// with the same root id, each do their own workload.
#[test]
fn the_benchmark_floor_binds_each_stream_to_its_own_configuration() {
    let upstream = Upstream::start();
    let tcp = TcpEcho::start();
    let filters = [
        Wasm::new("header", Some("floor"), "header"),
        Wasm::new("multi", Some("floor"), "multi"),
    ];
    let envoy = start("bench_floor", &filters, &[], &upstream, tcp.port(), 2);
    let port = envoy.listener("http").unwrap();
    let response = envoy
        .http1()
        .get(format!("http://127.0.0.1:{port}/p"))
        .header("x-b1", "one")
        .header("x-b2", "two")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(values(&response, "x-bench"), ["multi", "header"]);
    let seen = upstream.last_request().unwrap();
    assert_eq!(
        seen.header("x-route"),
        Some("one/two"),
        "multi ran on its streams"
    );
}
