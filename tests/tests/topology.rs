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

    /// Filters named and configured as `filters` (name, configuration), all with the root
    /// id `root_id`: one module's configurations the way Istio renders WasmPlugins of one
    /// image.
    fn with_root_id<const N: usize>(
        root_id: &'a str,
        filters: [(&'a str, &'a str); N],
    ) -> [Wasm<'a>; N] {
        filters.map(|(name, config)| Wasm::new(name, Some(root_id), config))
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

/// Where a topology's Envoy sends its traffic: the HTTP upstream, and the TCP echo server
/// behind the TCP listener's `tcp_proxy`. Both stay up as long as this does.
struct Upstreams {
    http: Upstream,
    tcp: TcpEcho,
}

impl Upstreams {
    fn start() -> Upstreams {
        Upstreams::with_http(Upstream::start())
    }

    fn with_http(http: Upstream) -> Upstreams {
        Upstreams {
            http,
            tcp: TcpEcho::start(),
        }
    }
}

/// The topology's Envoy configuration: `http` in the HTTP chain and `tcp` before
/// `tcp_proxy`, each loading `module`'s `.wasm`, sending to `upstreams`.
fn config(module: &str, http: &[Wasm], tcp: &[Wasm], upstreams: &Upstreams) -> String {
    let wasm = wasm_path(module);
    let http_filters: String = http.iter().map(|f| f.yaml("http", &wasm, 10)).collect();
    let tcp_filters: String = tcp.iter().map(|f| f.yaml("network", &wasm, 6)).collect();
    let template = std::fs::read_to_string(project_root().join("envoy/topology.yaml")).unwrap();
    template
        .replace("${HTTP_FILTERS}\n", &http_filters)
        .replace("${TCP_FILTERS}\n", &tcp_filters)
        .replace("${UPSTREAM_PORT}", &upstreams.http.port().to_string())
        .replace("${TCP_UPSTREAM_PORT}", &upstreams.tcp.port().to_string())
}

/// Envoy with [`config`] and `workers` workers, in front of fresh [`Upstreams`].
fn start(module: &str, http: &[Wasm], tcp: &[Wasm], workers: u32) -> (Upstreams, Envoy) {
    start_with(Upstreams::start(), module, http, tcp, workers)
}

/// [`start`], in front of `upstreams`.
fn start_with(
    upstreams: Upstreams,
    module: &str,
    http: &[Wasm],
    tcp: &[Wasm],
    workers: u32,
) -> (Upstreams, Envoy) {
    let config = config(module, http, tcp, &upstreams);
    let workers = workers.to_string();
    let envoy =
        Envoy::start_config_with_args(&config, &project_root(), &["--concurrency", &workers])
            .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
    (upstreams, envoy)
}

/// What the client and the upstream saw of one request through `envoy`'s HTTP listener,
/// over HTTP/1.1 and HTTP/2: (response `x-tag` values, upstream's `x-request-tag` values).
fn tags(envoy: &Envoy, upstream: &Upstream) -> Vec<(Vec<String>, Vec<String>)> {
    [envoy.http1(), envoy.http2()]
        .into_iter()
        .map(|client| {
            let response = client.get(url(envoy, "/")).send().unwrap();
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

/// `path` on `envoy`'s HTTP listener.
fn url(envoy: &Envoy, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", envoy.listener("http").unwrap())
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
    let a = Wasm::new("istio-system.defaults", root_ids[0], r#"{"tag": "a"}"#);
    let b = Wasm::new("shop.override", root_ids[1], r#"{"tag": "b"}"#);
    let (upstreams, envoy) = start("binding", &[a, b], &[], 2);
    for (response, request) in tags(&envoy, &upstreams.http) {
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
    let rule = |name: &str| {
        format!(r#"{{"response": {{"set": [{{"name": "{name}", "value": "yes"}}]}}}}"#)
    };
    let (a, b) = (rule("x-plugin-a"), rule("x-plugin-b"));
    let filters = Wasm::with_root_id(
        "http_headers",
        [
            ("istio-system.headers-default", &a),
            ("shop.headers-override", &b),
        ],
    );
    let (_upstreams, envoy) = start("http_headers", &filters, &[], 2);
    for client in [envoy.http1(), envoy.http2()] {
        let response = client.get(url(&envoy, "/")).send().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(values(&response, "x-plugin-a"), ["yes"], "{}", envoy.log());
        assert_eq!(values(&response, "x-plugin-b"), ["yes"], "{}", envoy.log());
    }
}

/// An HTTP plugin and a network plugin of one module in one VM, with the same root id:
/// connections run the network plugin's configuration, streams the HTTP plugin's.
#[test]
fn an_http_and_a_network_plugin_in_one_vm_each_serve_their_own() {
    let http = Wasm::new("web", Some("binding"), r#"{"tag": "http"}"#);
    let network = Wasm::new("raw", Some("binding"), r#"{"tag": "tcp"}"#);
    let (upstreams, envoy) = start("binding", &[http], &[network], 2);
    for (response, request) in tags(&envoy, &upstreams.http) {
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
    let declining = r#"{"tag": "no", "decline": true}"#;
    let http = Wasm::with_root_id(
        "binding",
        [("declines", declining), ("serves", r#"{"tag": "yes"}"#)],
    );
    let network = Wasm::with_root_id("binding", [("declines-tcp", declining)]);
    let (upstreams, envoy) = start("binding", &http, &network, 1);
    for (response, request) in tags(&envoy, &upstreams.http) {
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
    let filters = Wasm::with_root_id(
        "stateless",
        [("first", "decline:first"), ("second", "serve:second")],
    );
    let (_upstreams, envoy) = start("stateless", &filters, &[], 2);
    for _ in 0..3 {
        let response = envoy.http1().get(url(&envoy, "/")).send().unwrap();
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
    let line = envoy.log_line("stateless response headers").unwrap();
    assert!(line.ends_with(": stateless response headers"), "{line}");
}

/// A plugin calls out on its own (from a timer), and its filters use the answer.
#[test]
fn a_plugin_calls_out_from_a_timer_and_its_filters_use_the_answer() {
    let upstream =
        Upstream::start_with(|seen| Reply::status(200).header("x-seen-path", &seen.path));
    let config = r#"{"tag": "keys", "refresh": {"cluster": "upstream", "path": "/keys"}}"#;
    let filter = Wasm::new("refresher", None, config);
    let (_upstreams, envoy) =
        start_with(Upstreams::with_http(upstream), "binding", &[filter], &[], 1);
    // The main thread's plugin and the worker's each call out on their own timer; the
    // worker's answer may land after the main thread's, so ask until it has.
    let mut seen = Vec::new();
    let answered = wait_until(|| {
        let response = envoy.http1().get(url(&envoy, "/")).send().unwrap();
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
    let filter = Wasm::new("greeter", None, r#"{"tag": "vm"}"#)
        .vm_config(r#"{"greeting": "hello from the VM"}"#);
    let (_upstreams, envoy) = start("binding", &[filter], &[], 2);
    let response = envoy.http2().get(url(&envoy, "/")).send().unwrap();
    assert_eq!(values(&response, "x-vm"), ["hello from the VM"]);
}

/// A VM configuration the hook refuses stops Envoy, naming the field.
#[test]
fn a_bad_vm_configuration_is_refused_naming_the_field() {
    let upstreams = Upstreams::start();
    let filter = Wasm::new("greeter", None, r#"{"tag": "vm"}"#).vm_config(r#"{"greeting": 7}"#);
    let config = config("binding", &[filter], &[], &upstreams);
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
    let (_upstreams, envoy) = start(
        "binding",
        &[Wasm::new("logger", None, r#"{"tag": "log"}"#)],
        &[],
        2,
    );
    for (client, id) in [(envoy.http1(), "id-one"), (envoy.http2(), "id-two")] {
        let response = client
            .get(url(&envoy, "/"))
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
    let filters = Wasm::with_root_id("floor", [("header", "header"), ("multi", "multi")]);
    let (upstreams, envoy) = start("bench_floor", &filters, &[], 2);
    let response = envoy
        .http1()
        .get(url(&envoy, "/p"))
        .header("x-b1", "one")
        .header("x-b2", "two")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(values(&response, "x-bench"), ["multi", "header"]);
    let seen = upstreams.http.last_request().unwrap();
    assert_eq!(
        seen.header("x-route"),
        Some("one/two"),
        "multi ran on its streams"
    );
}
