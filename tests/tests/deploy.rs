//! From crate to mesh, proven against the real components: `cargo envoy-wasm` packages
//! images that `umoci`, `skopeo` and a real registry accept, writes manifests that Istio's
//! CRD schemas accept, and the module reaches a real Envoy both the way Istio delivers it
//! and through Envoy's own remote fetch.

use envoy_tests::{
    Envoy, Registry, Reply, TcpClient, TcpEcho, Upstream, cargo_envoy_wasm, cargo_envoy_wasm_ok,
    cli_binary, project_root, scratch_target, with_free_listener, with_free_ports,
};
use serde_json::{Value, json};
use sha2::Digest as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLES: [&str; 7] = [
    "grpc_auth",
    "hello_world",
    "http_auth",
    "http_body",
    "http_headers",
    "http_routing",
    "rate_limit",
];

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Runs a tool and returns its standard output; panics with its error output on failure.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/setup.sh installs it): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The module `cargo envoy-wasm build` made for `example`.
fn built_module(example: &str) -> Vec<u8> {
    let path = project_root().join(format!("target/envoy-wasm/{example}/plugin.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `package` into `out`; returns the manifest digest it printed (`sha256:...`).
fn package(example: &str, out: &Path, extra: &[&str]) -> String {
    let tag = format!("{example}:0.1.0");
    let mut args = vec!["package", "-p", example, "--tag", &tag, "--out", path(out)];
    args.extend(extra);
    let run = cargo_envoy_wasm_ok(&args);
    run.stdout
        .split_whitespace()
        .rev()
        .find(|word| word.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {:?}", run.stdout))
        .to_string()
}

/// `manifests` into `out`, for the workloads labelled `app=<example>` (and on port 9000
/// for a network filter); returns the parsed WasmPlugin.
fn manifests(example: &str, image: &str, config: Option<&Path>, out: &Path) -> Value {
    let selector = format!("app={example}");
    let mut args = vec![
        "manifests",
        "-p",
        example,
        "--image",
        image,
        "--out",
        path(out),
        "--selector",
        &selector,
    ];
    if example == "tcp_guard" {
        args.extend(["--port", "9000"]);
    }
    if let Some(config) = config {
        args.extend(["--config", path(config)]);
    }
    // An image on a registry this machine cannot reach: its digest comes from the record
    // `package` writes beside the layout, as a user without the registry at hand does.
    let work = temp();
    let layout = work.path().join("oci");
    let record = work.path().join("image.json");
    if image.contains("registry.example.com") {
        package(example, &layout, &[]);
        args.extend(["--record", path(&record)]);
    }
    cargo_envoy_wasm_ok(&args);
    read_yaml(&out.join("wasmplugin.yaml"))
}

fn read_yaml(file: &Path) -> Value {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn deploy_config(example: &str) -> PathBuf {
    project_root().join(format!("examples/{example}/deploy/config.json"))
}

/// Reads a file out of a gzip-compressed tar.
fn file_in_tar_gz(layer: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        let is_it = entry.path().ok()?.file_name().is_some_and(|f| f == name);
        if is_it {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).ok()?;
            return Some(bytes);
        }
    }
    None
}

/// The module in an OCI image layout, read like Istio's agent reads an image: the
/// manifest tagged `tag`, its last layer, the file `plugin.wasm` in it.
fn module_in_layout(dir: &Path, tag: &str) -> Vec<u8> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no manifest tagged {tag} in {index}"));
    let blob = |digest: &str| {
        std::fs::read(
            dir.join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let manifest: Value = serde_json::from_slice(&blob(entry["digest"].as_str().unwrap())).unwrap();
    let last = manifest["layers"].as_array().unwrap().last().unwrap();
    file_in_tar_gz(&blob(last["digest"].as_str().unwrap()), "plugin.wasm")
        .expect("plugin.wasm in the last layer")
}

#[test]
fn the_image_layout_passes_umoci_and_skopeo_and_is_reproducible() {
    let dir = temp();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let digest = package("hello_world", &first, &[]);
    assert_eq!(
        package("hello_world", &second, &[]),
        digest,
        "two packagings, one digest"
    );
    assert_eq!(
        std::fs::read(first.join("index.json")).unwrap(),
        std::fs::read(second.join("index.json")).unwrap()
    );
    let module = built_module("hello_world");

    let image = format!("{}:0.1.0", path(&first));
    let stat = run("umoci", &["stat", "--image", &image]);
    assert!(stat.contains("LAYER"), "{stat}");
    let bundle = dir.path().join("bundle");
    run(
        "umoci",
        &["unpack", "--rootless", "--image", &image, path(&bundle)],
    );
    let unpacked = std::fs::read(bundle.join("rootfs/plugin.wasm")).unwrap();
    assert!(
        unpacked == module,
        "the unpacked plugin.wasm is the built module"
    );

    let inspect: Value =
        serde_json::from_str(&run("skopeo", &["inspect", &format!("oci:{image}")])).unwrap();
    assert_eq!(inspect["Digest"], digest.as_str());
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1);
    let copy = dir.path().join("copy");
    run(
        "skopeo",
        &[
            "copy",
            "--quiet",
            &format!("oci:{image}"),
            &format!("oci:{}:copied", path(&copy)),
        ],
    );
    let copied: Value = serde_json::from_str(&run(
        "skopeo",
        &["inspect", &format!("oci:{}:copied", path(&copy))],
    ))
    .unwrap();
    assert_eq!(copied["Digest"], digest.as_str());
    assert!(module_in_layout(&copy, "copied") == module);

    // The Wasm artifact as Istio's fetcher reads it: exactly two layers, the module itself
    // and the config; skopeo reads it raw.
    let artifact = dir.path().join("artifact");
    let artifact_digest = package("hello_world", &artifact, &["--format", "artifact"]);
    assert_ne!(artifact_digest, digest);
    let raw: Value = serde_json::from_str(&run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci:{}:0.1.0", path(&artifact)),
        ],
    ))
    .unwrap();
    assert_eq!(
        raw["config"]["mediaType"],
        "application/vnd.module.wasm.config.v1+json"
    );
    let layers = raw["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{raw}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.module.wasm.content.layer.v1+wasm"
    );
    assert_eq!(
        layers[0]["digest"],
        format!("sha256:{}", sha256_hex(&module))
    );
    assert_eq!(
        layers[1]["mediaType"],
        "application/vnd.module.wasm.config.v1+json"
    );
}

#[test]
fn a_pushed_image_pulls_back_by_tag_and_by_digest() {
    let registry = Registry::start();
    let dir = temp();
    let reference = format!("{}/filters/hello_world:0.1.0", registry.address());
    let pushed = package(
        "hello_world",
        &dir.path().join("oci"),
        &["--push", &reference],
    );
    let plugin = manifests(
        "hello_world",
        &format!("oci://{reference}"),
        None,
        &dir.path().join("manifests"),
    );
    let sha256 = plugin["spec"]["sha256"].as_str().unwrap();
    assert_eq!(
        pushed,
        format!("sha256:{sha256}"),
        "manifests names the pushed image"
    );

    let inspect: Value = serde_json::from_str(&run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ],
    ))
    .unwrap();
    assert_eq!(inspect["Digest"], pushed.as_str());
    let by_tag = dir.path().join("by-tag");
    let by_digest = dir.path().join("by-digest");
    let repository = format!("{}/filters/hello_world", registry.address());
    for (source, target) in [
        (
            format!("docker://{reference}"),
            format!("oci:{}:pulled", path(&by_tag)),
        ),
        (
            format!("docker://{repository}@{pushed}"),
            format!("oci:{}:pulled", path(&by_digest)),
        ),
    ] {
        run(
            "skopeo",
            &[
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                &source,
                &target,
            ],
        );
        let pulled: Value = serde_json::from_str(&run("skopeo", &["inspect", &target])).unwrap();
        assert_eq!(pulled["Digest"], pushed.as_str(), "{source}");
    }
    let module = built_module("hello_world");
    assert!(module_in_layout(&by_tag, "pulled") == module);
    assert!(module_in_layout(&by_digest, "pulled") == module);
}

#[test]
fn bad_input_gets_one_error_line_and_writes_nothing() {
    let dir = temp();
    let out = dir.path().join("out");
    let root = project_root();
    let failed = |args: &[&str], expected: &str| {
        let run = cargo_envoy_wasm(&root, args);
        assert!(!run.success, "{args:?} succeeded");
        let errors = run.error_lines();
        assert_eq!(errors.len(), 1, "{}", run.stderr);
        assert!(errors[0].contains(expected), "{args:?}: {}", errors[0]);
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
        errors[0].to_string()
    };
    failed(
        &[
            "package",
            "-p",
            "envoy-tests",
            "--tag",
            "t:1",
            "--out",
            path(&out),
        ],
        "`envoy-tests` is not a cdylib",
    );
    failed(
        &[
            "build",
            "--target",
            "native",
            "-p",
            "hello_world",
            "--wasm",
            "x.wasm",
        ],
        "--wasm names a module to use, not one to build natively",
    );
    failed(
        &[
            "package",
            "-p",
            "hello_world",
            "--tag",
            "hello_world",
            "--out",
            path(&out),
        ],
        "--tag `hello_world` has no version",
    );
    let read_only = Registry::start_read_only();
    let reference = format!("{}/filters/hello_world:0.1.0", read_only.address());
    failed(
        &[
            "package",
            "-p",
            "hello_world",
            "--tag",
            "hello_world:0.1.0",
            "--push",
            &reference,
            "--out",
            path(&out),
        ],
        &format!("the registry {} refused the push", read_only.address()),
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "request:\n  set:\n  - name: x-a\n    value: \"1\"\n  - name: x-b\n    value: 2\n",
    )
    .unwrap();
    let line = failed(
        &[
            "manifests",
            "-p",
            "http_headers",
            "--image",
            "oci://r.example/h:1",
            "--selector",
            "app=h",
            "--config",
            path(&bad),
            "--out",
            path(&out),
        ],
        "field `request.set[1].value`",
    );
    assert_eq!(
        line,
        "error: invalid plugin configuration: field `request.set[1].value`: 2 is not of type \"string\""
    );
    // The filter names the same field when Envoy configures it.
    let envoy = envoy_wasm_sdk::testing::Emulator::new(http_headers::register_plugin);
    let refused = envoy
        .configure(
            r#"{"request": {"set": [{"name": "x-a", "value": "1"}, {"name": "x-b", "value": 2}]}}"#,
        )
        .unwrap_err();
    assert!(
        refused.to_string().contains("field `request.set[1].value`"),
        "{refused}"
    );
}

#[test]
fn a_native_build_is_a_dynamic_module_envoy_runs() {
    let run = cargo_envoy_wasm_ok(&["build", "--target", "native", "-p", "hello_world"]);
    let library = project_root().join("target/envoy-wasm/hello_world/libhello_world.so");
    assert!(
        run.stdout.contains(&format!("{} ", library.display())),
        "{}",
        run.stdout
    );
    let bytes = std::fs::read(&library).unwrap();
    assert!(bytes.starts_with(b"\x7fELF"), "a shared library");
    // The example's own envoy-native.yaml, loading the library the tool wrote.
    let upstream = Upstream::start();
    let config =
        std::fs::read_to_string(project_root().join("examples/hello_world/envoy-native.yaml"))
            .unwrap()
            .replace("../../target/native/libhello_world.so", path(&library));
    let envoy = Envoy::start_config(&with_free_ports(&config, &upstream), &project_root())
        .unwrap_or_else(|exited| panic!("{}", exited.log));
    let response = envoy.http1().get(envoy.url("/native")).send().unwrap();
    assert_eq!(response.headers()["x-hello"], "world");
    assert_eq!(upstream.last_request().unwrap().path, "/native");
    assert!(
        envoy.wait_for_log("Dynamic module ABI version v0.2.0 matched."),
        "{}",
        envoy.log()
    );
}

/// An Istio CRD's `openAPIV3Schema` as JSON Schema: Kubernetes' `x-kubernetes-*`
/// extensions dropped (their CEL rules need an API server), `nullable` as a `null` type.
fn json_schema_of_crd(node: &Value) -> Value {
    match node {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, value) in map {
                if !key.starts_with("x-kubernetes-") && key != "nullable" {
                    out.insert(key.clone(), json_schema_of_crd(value));
                }
            }
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(kind)) = map.get("type")
            {
                out.insert("type".into(), json!([kind, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(json_schema_of_crd).collect()),
        other => other.clone(),
    }
}

/// The CRD schema for a resource's `apiVersion` and `kind`, from `../shared/istio/`.
fn crd_validator(resource: &Value) -> jsonschema::Validator {
    let file = match resource["kind"].as_str().unwrap() {
        "WasmPlugin" => "wasmplugin-crd.yaml",
        "TrafficExtension" => "trafficextension-crd.yaml",
        "EnvoyFilter" => "envoyfilter-crd.yaml",
        other => panic!("no CRD for {other}"),
    };
    let crd = read_yaml(&project_root().join("../shared/istio").join(file));
    let (group, version) = resource["apiVersion"]
        .as_str()
        .unwrap()
        .split_once('/')
        .unwrap();
    assert_eq!(crd["spec"]["group"], group);
    let served = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version && v["served"] == true)
        .unwrap_or_else(|| panic!("{file} serves no version {version}"));
    let schema = json_schema_of_crd(&served["schema"]["openAPIV3Schema"]);
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .expect("the CRD schema compiles")
}

fn crd_errors(resource: &Value) -> Vec<String> {
    crd_validator(resource)
        .iter_errors(resource)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// The three Istio resources `manifests` wrote to `out` validate against their CRDs.
fn assert_valid_istio_resources(out: &Path) {
    for file in [
        "wasmplugin.yaml",
        "trafficextension.yaml",
        "envoyfilter.yaml",
    ] {
        let resource = read_yaml(&out.join(file));
        assert_eq!(crd_errors(&resource), Vec::<String>::new(), "{file}");
    }
}

#[test]
fn generated_manifests_validate_against_istios_crd_schemas() {
    let dir = temp();
    let out = dir.path();
    manifests(
        "http_headers",
        "oci://registry.example.com/filters/http_headers:0.1.0",
        Some(&deploy_config("http_headers")),
        out,
    );
    assert_valid_istio_resources(out);
    // The validator does reject what Kubernetes would.
    let mut plugin = read_yaml(&out.join("wasmplugin.yaml"));
    plugin["spec"]["failStrategy"] = json!("FAIL_SOMETIMES");
    plugin["spec"]["sha256"] = json!("not-a-digest");
    let errors = crd_errors(&plugin);
    assert!(
        errors.iter().any(|e| e.starts_with("/spec/failStrategy")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("/spec/sha256")),
        "{errors:?}"
    );
    let mut extension = read_yaml(&out.join("trafficextension.yaml"));
    extension["spec"]["lua"] = json!({"inlineCode": "function envoy_on_request(h) end"});
    assert!(
        !crd_errors(&extension).is_empty(),
        "wasm and lua together are refused"
    );
    let mut filter = read_yaml(&out.join("envoyfilter.yaml"));
    filter["spec"]["configPatches"][0]["applyTo"] = json!("SOMEWHERE");
    assert!(!crd_errors(&filter).is_empty());
}

#[test]
fn a_network_filter_gets_network_manifests_that_run_in_envoy() {
    let dir = temp();
    let out = dir.path();
    let plugin = manifests(
        "tcp_guard",
        "oci://registry.example.com/filters/tcp_guard:0.1.0",
        Some(&deploy_config("tcp_guard")),
        out,
    );
    // The module exports connection callbacks and no HTTP ones: a network filter.
    assert_eq!(plugin["spec"]["type"], "NETWORK");
    let filter = read_yaml(&out.join("envoyfilter.yaml"));
    let patches = &filter["spec"]["configPatches"];
    assert_eq!(
        patches[0]["patch"]["value"]["typed_config"]["@type"],
        "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm"
    );
    assert_eq!(patches[1]["applyTo"], "NETWORK_FILTER");
    assert_eq!(
        patches[1]["match"]["listener"]["filterChain"]["filter"]["name"],
        "envoy.filters.network.tcp_proxy"
    );
    assert_valid_istio_resources(out);
    // The plain Envoy bootstrap runs it before tcp_proxy.
    let service = TcpEcho::start();
    let config = std::fs::read_to_string(out.join("envoy.yaml"))
        .unwrap()
        .replace(
            "port_value: 8080",
            &format!("port_value: {}", service.port()),
        );
    let envoy = Envoy::start_config(&with_free_listener(&config), out)
        .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
    let mut refused = TcpClient::connect(envoy.port());
    refused.send(b"GET / HTTP/1.1\r\n\r\n");
    assert!(refused.read(usize::MAX).is_empty());
    assert!(refused.is_closed_by_peer());
    let mut allowed = TcpClient::connect(envoy.port());
    allowed.send(b"hello\n");
    assert_eq!(allowed.read(6), b"hello\n");
}

/// An Envoy bootstrap: one listener with `filter` before the router, to `upstream`, plus
/// `clusters`.
fn bootstrap(filter: Value, upstream: &Upstream, clusters: Vec<Value>) -> String {
    let cluster = |name: &str, port: u16| {
        json!({
            "name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint":
                {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
        })
    };
    let mut all = vec![cluster("upstream", upstream.port())];
    all.extend(
        clusters
            .into_iter()
            .map(|c| cluster(c[0].as_str().unwrap(), c[1].as_u64().unwrap() as u16)),
    );
    json!({
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress_http",
                        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]},
                        "http_filters": [filter, {
                            "name": "envoy.filters.http.router",
                            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                        }],
                    },
                }]}],
            }],
            "clusters": all,
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
    })
    .to_string()
}

fn remote_module_filter(sha256: &str, server: &Upstream) -> (Value, Vec<Value>) {
    let filter = json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "hello_world",
                "root_id": "hello_world",
                "vm_config": {"vm_id": "hello_world", "code": {"remote": {
                    "http_uri": {"uri": format!("http://127.0.0.1:{}/plugin.wasm", server.port()),
                                 "cluster": "module_server", "timeout": "5s"},
                    "sha256": sha256,
                }}},
            },
        },
    });
    (filter, vec![json!(["module_server", server.port()])])
}

#[test]
fn envoy_fetches_the_module_itself_and_refuses_a_wrong_sha256() {
    cargo_envoy_wasm_ok(&["build", "-p", "hello_world"]);
    let module = built_module("hello_world");
    let served = module.clone();
    let server = Upstream::start_with(move |_| Reply::status(200).body(served.clone()));
    let upstream = Upstream::start();
    let dir = temp();

    let (filter, clusters) = remote_module_filter(&sha256_hex(&module), &server);
    let envoy = Envoy::start_config(&bootstrap(filter, &upstream, clusters), dir.path())
        .unwrap_or_else(|e| panic!("{}", e.log));
    let mut served_header = None;
    for _ in 0..100 {
        let response = envoy.http1().get(envoy.url("/fleet")).send().unwrap();
        if response.status() == 200 {
            served_header = response.headers().get("x-hello").cloned();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        served_header.as_ref().map(|v| v.to_str().unwrap()),
        Some("world"),
        "{}",
        envoy.log()
    );
    assert!(server.requests().iter().any(|r| r.path == "/plugin.wasm"));
    drop(envoy);

    let wrong = sha256_hex(b"some other module");
    let (filter, clusters) = remote_module_filter(&wrong, &server);
    let envoy = Envoy::start_config_with_args(
        &bootstrap(filter, &upstream, clusters),
        dir.path(),
        &["--component-log-level", "config:debug"],
    )
    .unwrap_or_else(|e| panic!("{}", e.log));
    assert!(
        envoy.wait_for_log("Plugin hello_world failed to load"),
        "{}",
        envoy.log()
    );
    assert!(envoy.log().contains("data is invalid"), "{}", envoy.log());
    let response = envoy.http1().get(envoy.url("/fleet")).send().unwrap();
    assert_eq!(
        response.status(),
        503,
        "a plugin that failed to load fails closed"
    );
    assert!(response.headers().get("x-hello").is_none());
}

#[test]
fn examples_carry_fresh_manifests_and_schemas() {
    let stale = "stale: run scripts/deploy-manifests.sh and commit examples/*/deploy";
    for example in EXAMPLES {
        let deploy = project_root().join(format!("examples/{example}/deploy"));
        let schema = cargo_envoy_wasm_ok(&["schema", "-p", example]).stdout;
        let committed = std::fs::read_to_string(deploy.join("schema.json")).unwrap_or_default();
        assert_eq!(schema, committed, "{example}/deploy/schema.json is {stale}");
        let dir = temp();
        let config = deploy_config(example);
        let version = env!("CARGO_PKG_VERSION");
        manifests(
            example,
            &format!("oci://registry.example.com/envoy-wasm-sdk/{example}:{version}"),
            config.exists().then_some(config.as_path()),
            dir.path(),
        );
        for file in [
            "wasmplugin.yaml",
            "trafficextension.yaml",
            "envoyfilter.yaml",
            "envoy.yaml",
        ] {
            let fresh =
                without_module_path(&std::fs::read_to_string(dir.path().join(file)).unwrap());
            let committed = without_module_path(
                &std::fs::read_to_string(deploy.join(file)).unwrap_or_default(),
            );
            assert_eq!(fresh, committed, "{example}/deploy/{file} is {stale}");
        }
    }
}

/// `envoy.yaml` names the module by a path relative to where it was written: the one line
/// that differs between two folders.
fn without_module_path(manifest: &str) -> String {
    manifest
        .lines()
        .filter(|line| !line.trim_start().starts_with("filename:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `cargo envoy-wasm` in the crate at `dir`, built in [`scratch_target`]; its output.
fn in_crate(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(cli_binary())
        .arg("envoy-wasm")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scratch_target())
        .output()
        .unwrap()
}

#[test]
fn a_scaffolded_crate_tests_in_one_command_and_runs_in_envoy() {
    let dir = temp();
    let crate_dir = dir.path().join("my_filter");
    let run = cargo_envoy_wasm(dir.path(), &["new", path(&crate_dir)]);
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stdout.contains("cargo envoy-wasm test"),
        "{}",
        run.stdout
    );
    assert!(
        !crate_dir.join("envoy.yaml").exists(),
        "one configuration file"
    );
    // An edit, then one command: the module is rebuilt as shipped and both runs pass.
    let lib = crate_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replacen(
            "Ok(Action::Continue)",
            "log::debug!(\"an edit\");\n        Ok(Action::Continue)",
            1,
        ),
    )
    .unwrap();
    let tested = in_crate(&crate_dir, &["test"]);
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert!(
        tested.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    assert!(stdout.contains("test result: ok. 6 passed"), "{stdout}");
    assert!(
        stdout.contains("a_request_without_the_header_is_refused_on_wasm ... ok"),
        "{stdout}"
    );
    let module = scratch_target().join("envoy-wasm/my_filter/plugin.wasm");
    assert!(std::fs::read(&module).unwrap().starts_with(b"\0asm"));

    // A failing assertion is reported at its own line, in both runs, by the test's name.
    let tests = crate_dir.join("tests/emulator.rs");
    let passing = std::fs::read_to_string(&tests).unwrap();
    let line = passing.lines().count() + 5;
    std::fs::write(
        &tests,
        format!("{passing}\n#[emulator_test]\nfn fails_here() {{\n    let n = 1;\n    assert_eq!(n, 2);\n}}\n"),
    )
    .unwrap();
    let failed = in_crate(&crate_dir, &["test", "--", "fails_here"]);
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert!(!failed.status.success());
    for thread in ["fails_here", "fails_here_on_wasm"] {
        let at = format!("thread '{thread}' ");
        let report = stdout
            .lines()
            .find(|l| l.starts_with(&at))
            .unwrap_or_else(|| panic!("no report of {thread}: {stdout}"));
        assert!(
            report.contains(&format!("tests/emulator.rs:{line}:5")),
            "{report}"
        );
    }
    std::fs::write(&tests, passing).unwrap();

    // `run`: the filter in Envoy, in front of an upstream the user names.
    let upstream = Upstream::start();
    let (port, admin) = (envoy_tests::free_port(), envoy_tests::free_port());
    let mut child = Command::new(cli_binary())
        .args(["envoy-wasm", "run", "--upstream"])
        .arg(format!("127.0.0.1:{}", upstream.port()))
        .args([
            "--port",
            &port.to_string(),
            "--admin-port",
            &admin.to_string(),
        ])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", scratch_target())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log = said.clone();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if line.contains("envoy-wasm run: ready") {
                let _ = ready_tx.send(line);
            }
        }
    });
    let ready = ready_rx.recv_timeout(envoy_tests::WAIT);
    let client = reqwest::blocking::Client::new();
    let url = format!("http://127.0.0.1:{port}/");
    let served = ready.as_ref().ok().map(|_| {
        let ok = client.get(&url).header("x-api-key", "k").send().unwrap();
        let refused = client.get(&url).send().unwrap();
        (
            ok.status(),
            ok.headers().get("x-my-filter").cloned(),
            refused.status(),
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    let line = ready.unwrap_or_else(|_| panic!("run was not ready:\n{}", said.lock().unwrap()));
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}/")),
        "{line}"
    );
    let (ok, stamp, refused) = served.unwrap();
    assert_eq!(ok, 200);
    assert_eq!(stamp.unwrap(), "my_filter");
    assert_eq!(refused, 403);
    assert_eq!(upstream.requests().len(), 1);
}
