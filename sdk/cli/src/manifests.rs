//! Istio and Envoy manifests for a packaged filter.
//!
//! [`render`] writes four files:
//! - `wasmplugin.yaml`: an Istio `WasmPlugin` (extensions.istio.io/v1alpha1);
//! - `trafficextension.yaml`: the same plugin as Istio's newer `TrafficExtension`;
//! - `envoyfilter.yaml`: an `EnvoyFilter` with an `EXTENSION_CONFIG` patch holding the Wasm
//!   filter (remote code `oci://...` with its `sha256`, which Istio's agent fetches) and a
//!   patch per listener class and port that inserts it through ECDS, as Istio's own
//!   translation does (RBAC among the `type_urls`, for the agent's deny-all substitute);
//! - `envoy.yaml`: a plain Envoy bootstrap loading the module from a local file.
//!
//! The three Istio manifests cover the same traffic, set by the [`Scope`]: the workloads
//! (`selector`) or the gateways, waypoints and services (`targetRefs`), the direction
//! (`match.mode`: inbound by default on workloads) and the ports. In each, `sha256` is
//! the pushed image's manifest digest, which Istio checks the pulled image against, and
//! the plugin configuration is the same JSON.

use crate::Result;
use crate::wasm::FilterKind;
use anyhow::{Context as _, anyhow, bail};
use serde_norway::{Mapping, Value};

/// The Envoy type of a Wasm HTTP filter's config.
pub const WASM_FILTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
/// The Envoy type of a Wasm network filter's config.
pub const WASM_NETWORK_FILTER_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm";
const STRING_VALUE_TYPE: &str = "type.googleapis.com/google.protobuf.StringValue";
/// The Envoy type of the RBAC HTTP filter (the agent's substitute for a module it cannot
/// load).
pub const RBAC_FILTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
/// The Envoy type of the RBAC network filter.
pub const RBAC_NETWORK_FILTER_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

/// Where in the mesh the plugin applies: which proxies, which traffic, in what order.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The namespace the resources go in (`metadata.namespace`).
    pub namespace: String,
    /// Workload labels (`selector.matchLabels`): the sidecars the plugin applies to.
    pub selector: Vec<(String, String)>,
    /// Gateways, waypoints, services (`targetRefs`), as `(kind, name)`.
    pub target_refs: Vec<(String, String)>,
    /// Every workload of the namespace, said explicitly (no selector, no target).
    pub all_workloads: bool,
    /// The direction (`match.mode`); `None` leaves it out (every direction).
    pub mode: Option<Mode>,
    /// The ports (`match.ports`); empty for every port.
    pub ports: Vec<u16>,
    /// Where in the filter chain (`phase`).
    pub phase: Phase,
    /// Order within the phase (`priority`; higher runs first).
    pub priority: Option<i64>,
    /// What a proxy does when it cannot fetch or load the module.
    pub fail_strategy: FailStrategy,
    /// `imagePullPolicy`.
    pub pull_policy: PullPolicy,
    /// `imagePullSecret`: a Secret of the namespace with the registry's credentials.
    pub pull_secret: Option<String>,
    /// Environment variables of the VM (`vmConfig.env`).
    pub env: Vec<(String, String)>,
}

/// Traffic direction, as Istio's `WorkloadMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inbound (sidecar inbound listeners).
    Server,
    /// Outbound (sidecar outbound listeners, and gateways).
    Client,
    /// Both.
    ClientAndServer,
}

/// Istio's `PluginPhase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Before Istio's authentication filters.
    Authn,
    /// After authentication, before authorization.
    Authz,
    /// After authorization, before Istio's stats.
    Stats,
    /// Just before the router (Istio's default).
    #[default]
    Unspecified,
}

/// Istio's `FailStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailStrategy {
    /// Deny all traffic (Istio substitutes a deny-all RBAC filter).
    #[default]
    Close,
    /// Skip the plugin.
    Open,
    /// Reload the VM after a failure (Istio 1.27+).
    Reload,
}

/// Istio's `PullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull when the image is not in the agent's cache (a tag is pulled once).
    #[default]
    IfNotPresent,
    /// Pull on every change of the resource.
    Always,
}

impl Scope {
    /// Checks that the scope says which proxies it covers, and covers no more than a plugin
    /// of `kind` may: every refusal names the flag to use.
    ///
    /// # Errors
    /// What is missing or contradictory.
    pub fn validate(&self, kind: FilterKind) -> Result<()> {
        let targeted = !self.selector.is_empty() || !self.target_refs.is_empty();
        if !targeted && !self.all_workloads {
            bail!(
                "say which workloads the plugin applies to: --selector app=NAME (sidecars), --target-ref Gateway/NAME (a gateway or waypoint), or --all-workloads for every workload of the namespace",
            );
        }
        if targeted && self.all_workloads {
            bail!("--all-workloads goes alone: leave out --selector and --target-ref");
        }
        if !self.selector.is_empty() && !self.target_refs.is_empty() {
            bail!("--selector and --target-ref exclude each other (Istio takes one or the other)");
        }
        if kind == FilterKind::Network && self.ports.is_empty() {
            bail!(
                "a network plugin needs --port: it sees every byte of the connections on its ports, HTTP included, so name them",
            );
        }
        for (kind, _) in &self.target_refs {
            target_group(kind)?;
        }
        Ok(())
    }

    /// The direction this scope takes when none is given: inbound for sidecars, any for
    /// gateways and waypoints (Istio sees a gateway's traffic as outbound).
    fn effective_mode(&self) -> Option<Mode> {
        self.mode
            .or_else(|| self.target_refs.is_empty().then_some(Mode::Server))
    }

    fn traffic_match(&self) -> Option<Value> {
        let mut entry = Mapping::new();
        if let Some(mode) = self.effective_mode() {
            entry.insert(text("mode"), text(mode.istio()));
        }
        if !self.ports.is_empty() {
            let ports = self
                .ports
                .iter()
                .map(|port| map([("number", Value::from(*port))]))
                .collect();
            entry.insert(text("ports"), Value::Sequence(ports));
        }
        (!entry.is_empty()).then(|| Value::Sequence(vec![Value::Mapping(entry)]))
    }

    /// `targetRefs` (the same in every resource kind), when there are any.
    fn target_refs(&self) -> Option<Value> {
        let refs: Vec<Value> = self
            .target_refs
            .iter()
            .map(|(kind, name)| {
                map([
                    ("group", text(target_group(kind).unwrap_or_default())),
                    ("kind", text(kind)),
                    ("name", text(name)),
                ])
            })
            .collect();
        (!refs.is_empty()).then_some(Value::Sequence(refs))
    }

    /// `selector`, `targetRefs` and `match`, `phase`, `priority`: what says where the plugin
    /// applies, the same for WasmPlugin and TrafficExtension.
    fn placement(&self, spec: &mut Mapping, unspecified_phase: &str) {
        if !self.selector.is_empty() {
            spec.insert(
                text("selector"),
                map([("matchLabels", labels(&self.selector))]),
            );
        }
        if let Some(refs) = self.target_refs() {
            spec.insert(text("targetRefs"), refs);
        }
        if let Some(traffic) = self.traffic_match() {
            spec.insert(text("match"), traffic);
        }
        spec.insert(
            text("phase"),
            text(match self.phase {
                Phase::Authn => "AUTHN",
                Phase::Authz => "AUTHZ",
                Phase::Stats => "STATS",
                Phase::Unspecified => unspecified_phase,
            }),
        );
        if let Some(priority) = self.priority {
            spec.insert(text("priority"), Value::from(priority));
        }
    }

    /// The EnvoyFilter's listener classes (`context`) for this scope's direction.
    fn contexts(&self) -> Vec<&'static str> {
        if !self.target_refs.is_empty() {
            return vec!["GATEWAY"];
        }
        match self.effective_mode() {
            Some(Mode::Server) => vec!["SIDECAR_INBOUND"],
            Some(Mode::Client) => vec!["SIDECAR_OUTBOUND", "GATEWAY"],
            Some(Mode::ClientAndServer) | None => {
                vec!["SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY"]
            }
        }
    }
}

/// The first Istio release with the TrafficExtension API (istio/api #3650, istio #59052).
const TRAFFIC_EXTENSION_SINCE: &str = "Istio 1.30+";

impl Scope {
    /// What the manifests cover, in words, for their header.
    fn covers(&self, kind: FilterKind) -> String {
        let who = if !self.selector.is_empty() {
            let labels: Vec<String> = self
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("the workloads labelled {}", labels.join(","))
        } else if !self.target_refs.is_empty() {
            let refs: Vec<String> = self
                .target_refs
                .iter()
                .map(|(k, n)| format!("{k}/{n}"))
                .collect();
            refs.join(", ")
        } else {
            "every workload".to_owned()
        };
        let direction = match self.effective_mode() {
            Some(Mode::Server) => "inbound",
            Some(Mode::Client) => "outbound",
            Some(Mode::ClientAndServer) | None => "all",
        };
        let ports = if self.ports.is_empty() {
            "every port".to_owned()
        } else {
            let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            format!(
                "port{} {}",
                if ports.len() > 1 { "s" } else { "" },
                ports.join(", ")
            )
        };
        let what = match kind {
            FilterKind::Http => "HTTP",
            FilterKind::Network => "TCP",
        };
        format!("{who}, {direction} {what} traffic on {ports}")
    }

    /// The oldest Istio that reads every field the WasmPlugin uses (from istio/api's
    /// history: `failStrategy` 1.19, `type` 1.20, `targetRefs` 1.22, `FAIL_RELOAD` 1.27).
    fn istio_version(&self) -> &'static str {
        if self.fail_strategy == FailStrategy::Reload {
            "1.27+ (FAIL_RELOAD)"
        } else if !self.target_refs.is_empty() {
            "1.22+ (targetRefs)"
        } else {
            "1.20+ (type)"
        }
    }
}

impl Mode {
    fn istio(self) -> &'static str {
        match self {
            Mode::Server => "SERVER",
            Mode::Client => "CLIENT",
            Mode::ClientAndServer => "CLIENT_AND_SERVER",
        }
    }
}

/// The API group of a `--target-ref` kind.
fn target_group(kind: &str) -> Result<&'static str> {
    match kind {
        "Gateway" | "GatewayClass" => Ok("gateway.networking.k8s.io"),
        "Service" => Ok(""),
        "ServiceEntry" => Ok("networking.istio.io"),
        other => Err(anyhow!(
            "--target-ref kind `{other}`: Istio attaches plugins to Gateway, GatewayClass, Service or ServiceEntry"
        )),
    }
}

fn labels(pairs: &[(String, String)]) -> Value {
    Value::Mapping(
        pairs
            .iter()
            .map(|(k, v)| (text(k), text(v)))
            .collect::<Mapping>(),
    )
}

/// What the manifests describe.
#[derive(Debug, Clone)]
pub struct Plugin<'a> {
    /// The plugin's name: Envoy's plugin `name` and `root_id`, Istio's `pluginName`.
    pub name: &'a str,
    /// `oci://REGISTRY/REPOSITORY:TAG` or `oci://REGISTRY/REPOSITORY@sha256:HEX`.
    pub image: &'a str,
    /// The pushed image's manifest digest, hex without `sha256:`.
    pub sha256: &'a str,
    /// The plugin configuration, if it takes one.
    pub config: Option<&'a Value>,
    /// The module's path as the local `envoy.yaml` should name it.
    pub local_module: &'a str,
    /// The dynamic module's path as the local `envoy-native.yaml` should name it.
    pub local_library: &'a str,
    /// An HTTP filter or a network filter.
    pub kind: FilterKind,
    /// Where it applies.
    pub scope: &'a Scope,
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
    serde_json::to_string(config).context("the plugin configuration is not JSON-like")
}

impl Plugin<'_> {
    /// The Wasm part of the spec (all of a WasmPlugin's but its placement, a
    /// TrafficExtension's `wasm`).
    fn wasm_spec(&self) -> Mapping {
        let scope = self.scope;
        let mut spec = Mapping::new();
        spec.insert(text("url"), text(self.image));
        spec.insert(text("sha256"), text(self.sha256));
        spec.insert(
            text("imagePullPolicy"),
            text(match scope.pull_policy {
                PullPolicy::IfNotPresent => "IfNotPresent",
                PullPolicy::Always => "Always",
            }),
        );
        if let Some(secret) = &scope.pull_secret {
            spec.insert(text("imagePullSecret"), text(secret));
        }
        spec.insert(text("pluginName"), text(self.name));
        spec.insert(
            text("failStrategy"),
            text(match scope.fail_strategy {
                FailStrategy::Close => "FAIL_CLOSE",
                FailStrategy::Open => "FAIL_OPEN",
                FailStrategy::Reload => "FAIL_RELOAD",
            }),
        );
        spec.insert(
            text("type"),
            text(match self.kind {
                FilterKind::Http => "HTTP",
                FilterKind::Network => "NETWORK",
            }),
        );
        if !scope.env.is_empty() {
            let env = scope
                .env
                .iter()
                .map(|(name, value)| map([("name", text(name)), ("value", text(value))]))
                .collect();
            spec.insert(text("vmConfig"), map([("env", Value::Sequence(env))]));
        }
        if let Some(config) = self.config {
            spec.insert(text("pluginConfig"), config.clone());
        }
        spec
    }

    fn wasm_plugin(&self) -> Value {
        let mut spec = Mapping::new();
        self.scope.placement(&mut spec, "UNSPECIFIED_PHASE");
        spec.extend(self.wasm_spec());
        self.resource(
            "extensions.istio.io/v1alpha1",
            "WasmPlugin",
            Value::Mapping(spec),
        )
    }

    fn traffic_extension(&self) -> Value {
        let mut spec = Mapping::new();
        self.scope.placement(&mut spec, "UNSPECIFIED");
        spec.insert(text("wasm"), Value::Mapping(self.wasm_spec()));
        self.resource(
            "extensions.istio.io/v1alpha1",
            "TrafficExtension",
            Value::Mapping(spec),
        )
    }

    fn resource(&self, api_version: &str, kind: &str, spec: Value) -> Value {
        let mut metadata = Mapping::new();
        metadata.insert(text("name"), text(&resource_name(self.name)));
        if !self.scope.namespace.is_empty() {
            metadata.insert(text("namespace"), text(&self.scope.namespace));
        }
        map([
            ("apiVersion", text(api_version)),
            ("kind", text(kind)),
            ("metadata", Value::Mapping(metadata)),
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

    /// The type of the RBAC filter Istio's agent puts in a module's place when it cannot
    /// fetch or load it (deny-all for FAIL_CLOSE, allow-all for FAIL_OPEN).
    fn rbac_type(&self) -> &'static str {
        match self.kind {
            FilterKind::Http => RBAC_FILTER_TYPE,
            FilterKind::Network => RBAC_NETWORK_FILTER_TYPE,
        }
    }

    /// The Envoy Wasm filter config (`envoy.extensions.filters.{http,network}.wasm.v3.Wasm`);
    /// `vm_id` only for the local bootstrap (Istio renders none).
    fn wasm_filter(&self, code: Value, vm_id: bool) -> Result<Value> {
        let mut vm_config = Mapping::new();
        if vm_id {
            vm_config.insert(text("vm_id"), text(self.name));
        }
        vm_config.insert(text("code"), code);
        if !self.scope.env.is_empty() {
            let pairs = self
                .scope
                .env
                .iter()
                .map(|(k, v)| (text(k), text(v)))
                .collect::<Mapping>();
            vm_config.insert(
                text("environment_variables"),
                map([("key_values", Value::Mapping(pairs))]),
            );
        }
        let mut config = map([
            ("name", text(self.name)),
            ("root_id", text(self.name)),
            ("vm_config", Value::Mapping(vm_config)),
            (
                "failure_policy",
                text(match self.scope.fail_strategy {
                    FailStrategy::Close => "FAIL_CLOSED",
                    FailStrategy::Open => "FAIL_OPEN",
                    FailStrategy::Reload => "FAIL_RELOAD",
                }),
            ),
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

    /// The name of the ECDS resource: namespaced, so that the same plugin applied in two
    /// namespaces is two resources, not one filter inserted twice.
    fn extension_name(&self) -> String {
        let namespace = match self.scope.namespace.as_str() {
            "" => "default",
            namespace => namespace,
        };
        format!("{namespace}.{}", resource_name(self.name))
    }

    fn envoy_filter(&self) -> Result<Value> {
        let remote = map([(
            "remote",
            map([
                (
                    "http_uri",
                    map([
                        ("uri", text(self.image)),
                        // As Istio renders it: the agent fetches the image, not Envoy.
                        ("cluster", text("_")),
                        ("timeout", text("30s")),
                    ]),
                ),
                ("sha256", text(self.sha256)),
            ]),
        )]);
        let extension = self.wasm_filter(remote, false)?;
        let mut patches = vec![map([
            ("applyTo", text("EXTENSION_CONFIG")),
            (
                "patch",
                map([
                    ("operation", text("ADD")),
                    (
                        "value",
                        map([
                            ("name", text(&self.extension_name())),
                            ("typed_config", extension),
                        ]),
                    ),
                ]),
            ),
        ])];
        let ports: Vec<Option<u16>> = if self.scope.ports.is_empty() {
            vec![None]
        } else {
            self.scope.ports.iter().copied().map(Some).collect()
        };
        for context in self.scope.contexts() {
            for port in &ports {
                patches.push(self.insert_patch(context, *port));
            }
        }
        let mut spec = Mapping::new();
        if !self.scope.selector.is_empty() {
            spec.insert(
                text("workloadSelector"),
                map([("labels", labels(&self.scope.selector))]),
            );
        }
        if let Some(refs) = self.scope.target_refs() {
            spec.insert(text("targetRefs"), refs);
        }
        if let Some(priority) = self.scope.priority {
            // EnvoyFilters apply in ascending priority: a higher plugin priority (earlier
            // in the chain) is a lower EnvoyFilter priority.
            spec.insert(text("priority"), Value::from(-priority));
        }
        spec.insert(text("configPatches"), Value::Sequence(patches));
        Ok(self.resource(
            "networking.istio.io/v1alpha3",
            "EnvoyFilter",
            Value::Mapping(spec),
        ))
    }

    /// The patch that puts the filter in listeners of `context` (on `port`, if given)
    /// through ECDS. An HTTP filter goes where the phase puts it; a network filter first
    /// in the chain (before Istio's own network filters and the proxy).
    fn insert_patch(&self, context: &str, port: Option<u16>) -> Value {
        let (apply_to, filter, operation) = match self.kind {
            FilterKind::Http => {
                let (operation, sub_filter) = match self.scope.phase {
                    Phase::Authn | Phase::Authz => ("INSERT_FIRST", None),
                    Phase::Stats => ("INSERT_BEFORE", Some("istio.stats")),
                    Phase::Unspecified => ("INSERT_BEFORE", Some("envoy.filters.http.router")),
                };
                let mut filter = Mapping::new();
                filter.insert(
                    text("name"),
                    text("envoy.filters.network.http_connection_manager"),
                );
                if let Some(sub_filter) = sub_filter {
                    filter.insert(text("subFilter"), map([("name", text(sub_filter))]));
                }
                ("HTTP_FILTER", Value::Mapping(filter), operation)
            }
            FilterKind::Network => (
                "NETWORK_FILTER",
                map([("name", text("envoy.filters.network.tcp_proxy"))]),
                "INSERT_FIRST",
            ),
        };
        let discovery = map([
            (
                "config_source",
                map([("ads", map([])), ("initial_fetch_timeout", text("0s"))]),
            ),
            (
                "type_urls",
                Value::Sequence(vec![text(self.filter_type()), text(self.rbac_type())]),
            ),
        ]);
        let mut listener = Mapping::new();
        if let Some(port) = port {
            listener.insert(text("portNumber"), Value::from(port));
        }
        listener.insert(text("filterChain"), map([("filter", filter)]));
        map([
            ("applyTo", text(apply_to)),
            (
                "match",
                map([
                    ("context", text(context)),
                    ("listener", Value::Mapping(listener)),
                ]),
            ),
            (
                "patch",
                map([
                    ("operation", text(operation)),
                    (
                        "value",
                        map([
                            ("name", text(&self.extension_name())),
                            ("config_discovery", discovery),
                        ]),
                    ),
                ]),
            ),
        ])
    }

    /// A plain Envoy bootstrap running this plugin from local files, as `local` says.
    pub fn local_bootstrap(&self, local: &Local<'_>) -> Result<Value> {
        let socket = |host: &str, port: u16| {
            map([(
                "socket_address",
                map([("address", text(host)), ("port_value", Value::from(port))]),
            )])
        };
        let Some((default_cluster, _, _)) = local.clusters.first() else {
            bail!("a local Envoy needs an upstream");
        };
        let filters = match self.kind {
            FilterKind::Http => self.http_filters(local, default_cluster)?,
            FilterKind::Network => self.network_filters(local, default_cluster)?,
        };
        let listener = map([
            ("name", text("main")),
            ("address", socket("127.0.0.1", local.listen)),
            (
                "filter_chains",
                Value::Sequence(vec![map([("filters", filters)])]),
            ),
        ]);
        let clusters = local
            .clusters
            .iter()
            .map(|(name, host, port)| {
                map([
                    ("name", text(name)),
                    ("type", text("STRICT_DNS")),
                    ("connect_timeout", text("1s")),
                    (
                        "load_assignment",
                        map([
                            ("cluster_name", text(name)),
                            (
                                "endpoints",
                                Value::Sequence(vec![map([(
                                    "lb_endpoints",
                                    Value::Sequence(vec![map([(
                                        "endpoint",
                                        map([("address", socket(host, *port))]),
                                    )])]),
                                )])]),
                            ),
                        ]),
                    ),
                ])
            })
            .collect();
        Ok(map([
            (
                "static_resources",
                map([
                    ("listeners", Value::Sequence(vec![listener])),
                    ("clusters", Value::Sequence(clusters)),
                ]),
            ),
            (
                "admin",
                map([("address", socket("127.0.0.1", local.admin))]),
            ),
        ]))
    }

    /// The plugin's filter entry for a local Envoy: the Wasm filter, or the dynamic module.
    fn local_filter(&self, local: &Local<'_>, wasm_filter_name: &str) -> Result<Value> {
        match local.module {
            LocalModule::Wasm(path) => {
                let code = map([("local", map([("filename", text(path))]))]);
                Ok(map([
                    ("name", text(wasm_filter_name)),
                    ("typed_config", self.wasm_filter(code, true)?),
                ]))
            }
            LocalModule::Native(path) => {
                let mut config = Mapping::new();
                config.insert(
                    text("@type"),
                    text("type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"),
                );
                config.insert(
                    text("dynamic_module_config"),
                    map([
                        ("name", text(self.name)),
                        // The metrics keep their Wasm names: wasmcustom.*
                        ("metrics_namespace", text("wasmcustom")),
                        ("module", map([("local", map([("filename", text(path))]))])),
                    ]),
                );
                config.insert(text("filter_name"), text(self.name));
                if let Some(plugin_config) = self.config {
                    config.insert(
                        text("filter_config"),
                        map([
                            ("@type", text(STRING_VALUE_TYPE)),
                            ("value", text(&config_json(plugin_config)?)),
                        ]),
                    );
                }
                Ok(map([
                    ("name", text("envoy.filters.http.dynamic_modules")),
                    ("typed_config", Value::Mapping(config)),
                ]))
            }
        }
    }

    /// A network filter, then `tcp_proxy` to `cluster`.
    fn network_filters(&self, local: &Local<'_>, cluster: &str) -> Result<Value> {
        if matches!(local.module, LocalModule::Native(_)) {
            bail!(
                "the native target has no network filters yet (see the SDK's README, \
                 \"Native target\"): run it as Wasm",
            );
        }
        let wasm = self.local_filter(local, "envoy.filters.network.wasm")?;
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
                    ("cluster", text(cluster)),
                ]),
            ),
        ]);
        Ok(Value::Sequence(vec![wasm, proxy]))
    }

    /// The connection manager with the filter before the router, all to `cluster`.
    fn http_filters(&self, local: &Local<'_>, cluster: &str) -> Result<Value> {
        let filter = self.local_filter(local, "envoy.filters.http.wasm")?;
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
            ("route", map([("cluster", text(cluster))])),
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
                    ("http_filters", Value::Sequence(vec![filter, router])),
                ]),
            ),
        ]);
        Ok(Value::Sequence(vec![manager]))
    }
}

/// A local Envoy for a plugin: where it listens, its upstreams, and the module it loads.
#[derive(Debug, Clone)]
pub struct Local<'a> {
    /// The listener's port (on 127.0.0.1).
    pub listen: u16,
    /// The admin port (on 127.0.0.1).
    pub admin: u16,
    /// The clusters, `(name, host, port)`; requests (or connections) go to the first.
    pub clusters: &'a [(String, String, u16)],
    /// The module, by its path as the bootstrap should name it.
    pub module: LocalModule<'a>,
}

/// The upstream of the local bootstraps `manifests` writes: an HTTP (or TCP) server on
/// 127.0.0.1:8080.
static DEFAULT_UPSTREAM: std::sync::LazyLock<Vec<(String, String, u16)>> =
    std::sync::LazyLock::new(|| vec![("upstream".into(), "127.0.0.1".into(), 8080)]);

impl Local<'static> {
    /// Listener :10000, admin :9901, upstream 127.0.0.1:8080 (no module yet).
    pub fn default_ports() -> Local<'static> {
        Local {
            listen: 10000,
            admin: 9901,
            clusters: &DEFAULT_UPSTREAM,
            module: LocalModule::Wasm(""),
        }
    }
}

/// What a local Envoy loads.
#[derive(Debug, Clone, Copy)]
pub enum LocalModule<'a> {
    /// A `.wasm` for the Wasm filter.
    Wasm(&'a str),
    /// A `lib<name>.so` for the dynamic-module filter.
    Native(&'a str),
}

fn yaml(header: &str, value: &Value) -> Result<Vec<u8>> {
    let body = serde_norway::to_string(value).context("cannot write YAML")?;
    Ok(format!("{header}{body}").into_bytes())
}

/// The four manifests as (file name, contents).
pub fn render(plugin: &Plugin<'_>) -> Result<Vec<(String, Vec<u8>)>> {
    plugin.scope.validate(plugin.kind)?;
    let generated = "# Generated by `cargo envoy-wasm manifests`; regenerate rather than edit.\n";
    let namespace = match plugin.scope.namespace.as_str() {
        "" => "the namespace you apply it in".to_owned(),
        namespace => format!("namespace {namespace}"),
    };
    let mut files = vec![
        (
            "wasmplugin.yaml".into(),
            yaml(
                &format!(
                    "{generated}# `kubectl apply -f wasmplugin.yaml`: applies in {namespace} to {}.\n\
                     # Needs Istio {}.\n",
                    plugin.scope.covers(plugin.kind),
                    plugin.scope.istio_version()
                ),
                &plugin.wasm_plugin(),
            )?,
        ),
        (
            "trafficextension.yaml".into(),
            yaml(
                &format!(
                    "{generated}# Istio's successor to WasmPlugin ({}): the same plugin and scope; apply one of the two.\n",
                    TRAFFIC_EXTENSION_SINCE
                ),
                &plugin.traffic_extension(),
            )?,
        ),
        (
            "envoyfilter.yaml".into(),
            yaml(
                &format!(
                    "{generated}# The same plugin and scope as an EnvoyFilter and ECDS, as Istio renders a WasmPlugin;\n\
                     # Istio's agent pulls the image. Apply one of the three.{}\n",
                    if plugin.scope.target_refs.is_empty() {
                        ""
                    } else {
                        "\n# Needs Istio 1.27+: earlier istiod ignores an EnvoyFilter's targetRefs and applies it to the whole namespace."
                    }
                ),
                &plugin.envoy_filter()?,
            )?,
        ),
        (
            "envoy.yaml".into(),
            yaml(
                &format!(
                    "{generated}# Plain Envoy: run from this folder, `envoy -c envoy.yaml --disable-hot-restart`\n\
                     # (or `cargo envoy-wasm run`, which writes its own with the ports and upstreams you give).\n\
                     # Listener 127.0.0.1:10000 forwards to {} on 127.0.0.1:8080; admin on :9901.\n",
                    match plugin.kind {
                        FilterKind::Http => "an HTTP server",
                        FilterKind::Network => "a TCP server",
                    }
                ),
                &plugin.local_bootstrap(&Local {
                    module: LocalModule::Wasm(plugin.local_module),
                    ..Local::default_ports()
                })?,
            )?,
        ),
    ];
    if plugin.kind == FilterKind::Http {
        files.push((
            "envoy-native.yaml".into(),
            yaml(
                &format!(
                    "{generated}# The same, with the filter as an Envoy dynamic module (`cargo envoy-wasm build --target native`):\n\
                     # `envoy -c envoy-native.yaml --disable-hot-restart` from this folder.\n"
                ),
                &plugin.local_bootstrap(&Local {
                    module: LocalModule::Native(plugin.local_library),
                    ..Local::default_ports()
                })?,
            )?,
        ));
    }
    Ok(files)
}
