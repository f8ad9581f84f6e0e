//! Istio and Envoy manifests for a packaged filter.
//!
//! [`render`] writes four files:
//! - `wasmplugin.yaml`: an Istio `WasmPlugin` (extensions.istio.io/v1alpha1);
//! - `trafficextension.yaml`: the same plugin as Istio's newer `TrafficExtension`;
//! - `envoyfilter.yaml`: an `EnvoyFilter` with an `EXTENSION_CONFIG` patch holding the Wasm
//!   filter (remote code `oci://...` with its `sha256`, which Istio's agent fetches) and an
//!   `HTTP_FILTER` patch that inserts it before the router through ECDS;
//! - `envoy.yaml`: a plain Envoy bootstrap loading the module from a local file.
//!
//! In each, `sha256` is the image's manifest digest, which Istio checks the pulled image
//! against, and the plugin configuration is the same JSON.

use crate::wasm::FilterKind;
use crate::{Error, Result};
use serde_yaml::{Mapping, Value};

/// The Envoy type of a Wasm HTTP filter's config.
pub const WASM_FILTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
/// The Envoy type of a Wasm network filter's config.
pub const WASM_NETWORK_FILTER_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm";
const STRING_VALUE_TYPE: &str = "type.googleapis.com/google.protobuf.StringValue";

/// What the manifests describe.
#[derive(Debug, Clone)]
pub struct Plugin<'a> {
    /// The plugin's name: Envoy's plugin `name` and `root_id`, Istio's `pluginName`.
    pub name: &'a str,
    /// `oci://REGISTRY/REPOSITORY:TAG`.
    pub image: &'a str,
    /// The image's manifest digest, hex without `sha256:`.
    pub sha256: &'a str,
    /// The plugin configuration, if it takes one.
    pub config: Option<&'a Value>,
    /// The module's path as the local `envoy.yaml` should name it.
    pub local_module: &'a str,
    /// An HTTP filter or a network filter.
    pub kind: FilterKind,
}

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect::<Mapping>(),
    )
}

fn text(value: &str) -> Value {
    Value::from(value)
}

/// A Kubernetes object name for `name`: lower case, `_` as `-`.
pub fn resource_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// The plugin configuration as the JSON string Envoy passes to the plugin.
pub fn config_json(config: &Value) -> Result<String> {
    serde_json::to_string(config)
        .map_err(|e| Error::new(format!("the plugin configuration is not JSON-like: {e}")))
}

impl Plugin<'_> {
    fn wasm_spec(&self) -> Value {
        let mut spec = map([
            ("url", text(self.image)),
            ("sha256", text(self.sha256)),
            ("imagePullPolicy", text("IfNotPresent")),
            ("pluginName", text(self.name)),
            ("failStrategy", text("FAIL_CLOSE")),
            (
                "type",
                text(match self.kind {
                    FilterKind::Http => "HTTP",
                    FilterKind::Network => "NETWORK",
                }),
            ),
        ]);
        if let (Some(config), Value::Mapping(spec)) = (self.config, &mut spec) {
            spec.insert(text("pluginConfig"), config.clone());
        }
        spec
    }

    fn resource(&self, api_version: &str, kind: &str, spec: Value) -> Value {
        map([
            ("apiVersion", text(api_version)),
            ("kind", text(kind)),
            ("metadata", map([("name", text(&resource_name(self.name)))])),
            ("spec", spec),
        ])
    }

    /// The type of the Envoy Wasm filter config.
    fn filter_type(&self) -> &'static str {
        match self.kind {
            FilterKind::Http => WASM_FILTER_TYPE,
            FilterKind::Network => WASM_NETWORK_FILTER_TYPE,
        }
    }

    /// The Envoy Wasm filter config (`envoy.extensions.filters.{http,network}.wasm.v3.Wasm`).
    fn wasm_filter(&self, code: Value) -> Result<Value> {
        let mut config = map([
            ("name", text(self.name)),
            ("root_id", text(self.name)),
            (
                "vm_config",
                map([("vm_id", text(self.name)), ("code", code)]),
            ),
            ("failure_policy", text("FAIL_CLOSED")),
        ]);
        if let (Some(plugin_config), Value::Mapping(config)) = (self.config, &mut config) {
            let json = config_json(plugin_config)?;
            config.insert(
                text("configuration"),
                map([("@type", text(STRING_VALUE_TYPE)), ("value", text(&json))]),
            );
        }
        Ok(map([
            ("@type", text(self.filter_type())),
            ("config", config),
        ]))
    }

    fn envoy_filter(&self) -> Result<Value> {
        let remote = map([(
            "remote",
            map([
                (
                    "http_uri",
                    map([("uri", text(self.image)), ("timeout", text("30s"))]),
                ),
                ("sha256", text(self.sha256)),
            ]),
        )]);
        let extension = self.wasm_filter(remote)?;
        let patches = vec![
            map([
                ("applyTo", text("EXTENSION_CONFIG")),
                (
                    "patch",
                    map([
                        ("operation", text("ADD")),
                        (
                            "value",
                            map([("name", text(self.name)), ("typed_config", extension)]),
                        ),
                    ]),
                ),
            ]),
            self.insert_patch(),
        ];
        Ok(self.resource(
            "networking.istio.io/v1alpha3",
            "EnvoyFilter",
            map([("configPatches", Value::Sequence(patches))]),
        ))
    }

    /// The patch that puts the filter in the listener through ECDS: before the router for
    /// an HTTP filter, before `tcp_proxy` for a network filter.
    fn insert_patch(&self) -> Value {
        let (apply_to, filter) = match self.kind {
            FilterKind::Http => (
                "HTTP_FILTER",
                map([
                    (
                        "name",
                        text("envoy.filters.network.http_connection_manager"),
                    ),
                    (
                        "subFilter",
                        map([("name", text("envoy.filters.http.router"))]),
                    ),
                ]),
            ),
            FilterKind::Network => (
                "NETWORK_FILTER",
                map([("name", text("envoy.filters.network.tcp_proxy"))]),
            ),
        };
        let discovery = map([
            (
                "config_source",
                map([("ads", map([])), ("initial_fetch_timeout", text("0s"))]),
            ),
            ("type_urls", Value::Sequence(vec![text(self.filter_type())])),
        ]);
        map([
            ("applyTo", text(apply_to)),
            (
                "match",
                map([
                    ("context", text("SIDECAR_INBOUND")),
                    (
                        "listener",
                        map([("filterChain", map([("filter", filter)]))]),
                    ),
                ]),
            ),
            (
                "patch",
                map([
                    ("operation", text("INSERT_BEFORE")),
                    (
                        "value",
                        map([("name", text(self.name)), ("config_discovery", discovery)]),
                    ),
                ]),
            ),
        ])
    }

    fn envoy_bootstrap(&self) -> Result<Value> {
        let socket = |port: u64| {
            map([(
                "socket_address",
                map([
                    ("address", text("127.0.0.1")),
                    ("port_value", Value::from(port)),
                ]),
            )])
        };
        let code = map([("local", map([("filename", text(self.local_module))]))]);
        let filters = match self.kind {
            FilterKind::Http => self.http_filters(code)?,
            FilterKind::Network => self.network_filters(code)?,
        };
        let listener = map([
            ("name", text("main")),
            ("address", socket(10000)),
            (
                "filter_chains",
                Value::Sequence(vec![map([("filters", filters)])]),
            ),
        ]);
        let cluster = map([
            ("name", text("upstream")),
            ("type", text("STATIC")),
            ("connect_timeout", text("1s")),
            (
                "load_assignment",
                map([
                    ("cluster_name", text("upstream")),
                    (
                        "endpoints",
                        Value::Sequence(vec![map([(
                            "lb_endpoints",
                            Value::Sequence(vec![map([(
                                "endpoint",
                                map([("address", socket(8080))]),
                            )])]),
                        )])]),
                    ),
                ]),
            ),
        ]);
        Ok(map([
            (
                "static_resources",
                map([
                    ("listeners", Value::Sequence(vec![listener])),
                    ("clusters", Value::Sequence(vec![cluster])),
                ]),
            ),
            ("admin", map([("address", socket(9901))])),
        ]))
    }

    /// A network filter, then `tcp_proxy` to the `upstream` cluster.
    fn network_filters(&self, code: Value) -> Result<Value> {
        let wasm = map([
            ("name", text("envoy.filters.network.wasm")),
            ("typed_config", self.wasm_filter(code)?),
        ]);
        let proxy = map([
            ("name", text("envoy.filters.network.tcp_proxy")),
            (
                "typed_config",
                map([
                    (
                        "@type",
                        text(
                            "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                        ),
                    ),
                    ("stat_prefix", text("tcp")),
                    ("cluster", text("upstream")),
                ]),
            ),
        ]);
        Ok(Value::Sequence(vec![wasm, proxy]))
    }

    /// The connection manager with the Wasm filter before the router, all to `upstream`.
    fn http_filters(&self, code: Value) -> Result<Value> {
        let wasm = map([
            ("name", text("envoy.filters.http.wasm")),
            ("typed_config", self.wasm_filter(code)?),
        ]);
        let router = map([
            ("name", text("envoy.filters.http.router")),
            (
                "typed_config",
                map([(
                    "@type",
                    text("type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"),
                )]),
            ),
        ]);
        let route = map([
            ("name", text("to_upstream")),
            ("match", map([("prefix", text("/"))])),
            ("route", map([("cluster", text("upstream"))])),
        ]);
        let manager = map([
            (
                "name",
                text("envoy.filters.network.http_connection_manager"),
            ),
            (
                "typed_config",
                map([
                    (
                        "@type",
                        text(
                            "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        ),
                    ),
                    ("stat_prefix", text("ingress_http")),
                    (
                        "route_config",
                        map([
                            ("name", text("local_route")),
                            (
                                "virtual_hosts",
                                Value::Sequence(vec![map([
                                    ("name", text("local_service")),
                                    ("domains", Value::Sequence(vec![text("*")])),
                                    ("routes", Value::Sequence(vec![route])),
                                ])]),
                            ),
                        ]),
                    ),
                    ("http_filters", Value::Sequence(vec![wasm, router])),
                ]),
            ),
        ]);
        Ok(Value::Sequence(vec![manager]))
    }
}

fn yaml(header: &str, value: &Value) -> Result<Vec<u8>> {
    let body =
        serde_yaml::to_string(value).map_err(|e| Error::new(format!("cannot write YAML: {e}")))?;
    Ok(format!("{header}{body}").into_bytes())
}

/// The four manifests as (file name, contents).
pub fn render(plugin: &Plugin<'_>) -> Result<Vec<(String, Vec<u8>)>> {
    let generated = "# Generated by `cargo envoy-wasm manifests`; regenerate rather than edit.\n";
    Ok(vec![
        (
            "wasmplugin.yaml".into(),
            yaml(
                &format!(
                    "{generated}# Apply with `kubectl apply -n NAMESPACE -f wasmplugin.yaml` (Istio 1.12+).\n"
                ),
                &plugin.resource(
                    "extensions.istio.io/v1alpha1",
                    "WasmPlugin",
                    plugin.wasm_spec(),
                ),
            )?,
        ),
        (
            "trafficextension.yaml".into(),
            yaml(
                &format!(
                    "{generated}# Istio's successor to WasmPlugin; use one of the two, not both.\n"
                ),
                &plugin.resource(
                    "extensions.istio.io/v1alpha1",
                    "TrafficExtension",
                    map([("wasm", plugin.wasm_spec())]),
                ),
            )?,
        ),
        (
            "envoyfilter.yaml".into(),
            yaml(
                &format!(
                    "{generated}# For meshes that configure Wasm through EnvoyFilter and ECDS; Istio's agent pulls the image.\n"
                ),
                &plugin.envoy_filter()?,
            )?,
        ),
        (
            "envoy.yaml".into(),
            yaml(
                &format!(
                    "{generated}# Plain Envoy: run from this folder, `envoy -c envoy.yaml --disable-hot-restart`.\n\
                     # Listener 127.0.0.1:10000 forwards to {} on 127.0.0.1:8080; admin on :9901.\n",
                    match plugin.kind {
                        FilterKind::Http => "an HTTP server",
                        FilterKind::Network => "a TCP server",
                    }
                ),
                &plugin.envoy_bootstrap()?,
            )?,
        ),
    ])
}
