//! `cargo envoy-wasm`: see the crate's README, or `cargo envoy-wasm --help`.

use cargo_envoy_wasm::image::Format;
use cargo_envoy_wasm::manifests::{FailStrategy, Mode, Phase, PullPolicy, Scope};
use cargo_envoy_wasm::registry::Access;
use cargo_envoy_wasm::{Error, commands, run};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Cargo calls `cargo-envoy-wasm envoy-wasm ARGS` for `cargo envoy-wasm ARGS`.
#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum Cargo {
    /// Scaffold, build, package and deploy proxy-wasm filters written with envoy-wasm-sdk.
    #[command(name = "envoy-wasm", version)]
    EnvoyWasm(Cli),
}

#[derive(Args)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// One value per run: the size of its largest variant (`manifests`' flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Creates a filter crate at PATH (its last component is the crate's name).
    New {
        /// Where to create it; must not exist yet.
        path: PathBuf,
        /// Depend on this published envoy-wasm-sdk version instead of this checkout.
        #[arg(long, value_name = "VERSION")]
        sdk_version: Option<String>,
        /// Depend on the SDK at this path (default: the checkout this tool was built from,
        /// else the published version matching this tool).
        #[arg(long, value_name = "DIR", conflicts_with = "sdk_version")]
        sdk_path: Option<PathBuf>,
    },
    /// Builds the filter for wasm32-wasip1 (release), runs wasm-opt when present, prints the
    /// size; with `--target native`, builds it as an Envoy dynamic module (lib<name>.so).
    Build {
        #[command(flatten)]
        select: Select,
        /// `wasm` (proxy-wasm, loaded by envoy.filters.http.wasm) or `native` (a dynamic
        /// module, loaded by envoy.filters.http.dynamic_modules).
        #[arg(long, value_enum, default_value_t = Target::Wasm)]
        target: Target,
    },
    /// Writes the filter as an OCI image layout, and optionally pushes it to a registry;
    /// records the image's digest (and where it went) in image.json beside the layout.
    Package {
        #[command(flatten)]
        select: Select,
        /// The image's name and version, `NAME:VERSION`.
        #[arg(long)]
        tag: String,
        /// `compat`: one tar+gzip layer holding plugin.wasm (Istio, skopeo, umoci read it);
        /// `artifact`: the Wasm artifact, module and config as two layers (Istio reads it).
        #[arg(long, value_enum, default_value_t = Format::Compat)]
        format: Format,
        /// The image layout's folder (default: target/envoy-wasm/CRATE/oci).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also push to `REGISTRY/REPOSITORY[:TAG]` (the tag defaults to VERSION).
        #[arg(long, value_name = "REF")]
        push: Option<String>,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Writes wasmplugin.yaml, trafficextension.yaml and envoyfilter.yaml (the same plugin,
    /// scope and image digest) and a local envoy.yaml. The digest is the pushed image's:
    /// from --digest, the image reference, the registry, or package's record; never a rebuild.
    Manifests {
        #[command(flatten)]
        select: Select,
        /// The image as the mesh will pull it: `oci://REGISTRY/REPOSITORY:TAG` or
        /// `oci://REGISTRY/REPOSITORY@sha256:DIGEST`.
        #[arg(long)]
        image: String,
        /// The image's manifest digest, for an image the registry cannot be asked about.
        #[arg(long, value_name = "SHA256")]
        digest: Option<String>,
        /// The record `package` wrote (default: target/envoy-wasm/CRATE/image.json).
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// The plugin's configuration (JSON or YAML, an object), checked against the config
        /// schema and by the filter's own `configure`.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The namespace of the resources.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// A label of the workloads the plugin applies to (`app=reviews`); repeatable.
        #[arg(long = "selector", value_name = "KEY=VALUE", value_parser = key_value)]
        selector: Vec<(String, String)>,
        /// A gateway, waypoint or service the plugin applies to (`Gateway/ingress`);
        /// repeatable.
        #[arg(long = "target-ref", value_name = "KIND/NAME", value_parser = kind_name)]
        target_ref: Vec<(String, String)>,
        /// Every workload of the namespace (instead of --selector or --target-ref).
        #[arg(long)]
        all_workloads: bool,
        /// The traffic direction: `server` (inbound; the default for workloads), `client`
        /// (outbound), `client-and-server` (the default for --target-ref: any).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// A port the plugin applies to; repeatable (a network plugin needs one).
        #[arg(long = "port", value_name = "N")]
        port: Vec<u16>,
        /// Where in the filter chain: `authn`, `authz`, `stats` or `unspecified` (just
        /// before the router).
        #[arg(long, value_enum, default_value_t = PhaseArg::Unspecified)]
        phase: PhaseArg,
        /// Order within the phase (higher runs first).
        #[arg(long, allow_hyphen_values = true)]
        priority: Option<i64>,
        /// When the module cannot be fetched or loaded: `close` (deny all traffic), `open`
        /// (skip the plugin), `reload` (reload the VM after a failure).
        #[arg(long, value_enum, default_value_t = FailArg::Close)]
        fail_strategy: FailArg,
        /// `if-not-present` or `always`.
        #[arg(long, value_enum, default_value_t = PullArg::IfNotPresent)]
        pull_policy: PullArg,
        /// A Secret of the namespace with the registry's credentials.
        #[arg(long, value_name = "SECRET")]
        pull_secret: Option<String>,
        /// An environment variable of the VM (`NAME=VALUE`); repeatable.
        #[arg(long = "env", value_name = "NAME=VALUE", value_parser = key_value)]
        env: Vec<(String, String)>,
        /// Where to write (default: target/envoy-wasm/CRATE/manifests).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Builds the module as shipped (release, wasm-opt), then runs the crate's tests; the
    /// wasm runs of `#[emulator_test]`s load that module. Arguments after `--` go to
    /// `cargo test`.
    Test {
        #[command(flatten)]
        select: Select,
        /// For `cargo test` (a test name filter, `--nocapture`, ...).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Builds the filter and runs it in Envoy in front of the upstreams given, with the
    /// crate's config.json; rebuilds and restarts Envoy when the crate changes.
    Run {
        #[command(flatten)]
        select: Select,
        /// `wasm`, or `native` (the dynamic module).
        #[arg(long, value_enum, default_value_t = Target::Wasm)]
        target: Target,
        /// Where requests go: `HOST:PORT` (the cluster `upstream`).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
        upstream: String,
        /// More clusters the filter calls: `NAME=HOST:PORT`; repeatable.
        #[arg(long = "cluster", value_name = "NAME=HOST:PORT", value_parser = key_value)]
        cluster: Vec<(String, String)>,
        /// The listener's port.
        #[arg(long, default_value_t = 10000)]
        port: u16,
        /// Envoy's admin port.
        #[arg(long, default_value_t = 9901)]
        admin_port: u16,
        /// The plugin's configuration (default: the crate's config.json).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run the build once, without watching the crate for changes.
        #[arg(long)]
        no_watch: bool,
    },
    /// Prints the JSON Schema of the plugin's configuration type.
    Schema(Select),
}

/// How to reach the registry.
#[derive(Args)]
struct AccessArgs {
    /// Allow plain HTTP to a registry that is not on loopback.
    #[arg(long)]
    insecure: bool,
    /// Trust the CA certificates in this PEM file for the registry's HTTPS.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
}

impl AccessArgs {
    fn access(self) -> Access {
        Access {
            insecure: self.insecure,
            ca_certificate: self.ca_cert,
            ..Access::default()
        }
    }
}

/// `KEY=VALUE`.
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// `KIND/NAME`.
fn kind_name(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {
            Ok((kind.to_owned(), name.to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not KIND/NAME (for example Gateway/ingress)"
        )),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Server,
    Client,
    ClientAndServer,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PhaseArg {
    Authn,
    Authz,
    Stats,
    Unspecified,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FailArg {
    Close,
    Open,
    Reload,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PullArg {
    IfNotPresent,
    Always,
}

/// What `build` makes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Target {
    /// A proxy-wasm module.
    Wasm,
    /// An Envoy dynamic module.
    Native,
}

/// Which crate, and optionally a prebuilt module.
#[derive(Args)]
struct Select {
    /// The filter crate (default: the package in the current folder).
    #[arg(short = 'p', long = "package")]
    package: Option<String>,
    /// The workspace's (or crate's) Cargo.toml.
    #[arg(long)]
    manifest_path: Option<PathBuf>,
    /// Use this module instead of building one.
    #[arg(long)]
    wasm: Option<PathBuf>,
}

impl Select {
    fn crate_selection(&self) -> commands::Selection<'_> {
        commands::Selection {
            package: self.package.as_deref(),
            manifest_path: self.manifest_path.as_deref(),
            wasm: self.wasm.as_deref(),
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::New {
            path,
            sdk_version,
            sdk_path,
        } => commands::new(&path, sdk_version.as_deref(), sdk_path.as_deref()),
        Command::Build { select, target } => match target {
            Target::Wasm => commands::build(select.crate_selection()).map(|_| ()),
            Target::Native => commands::build_native(select.crate_selection()).map(|_| ()),
        },
        Command::Package {
            select,
            tag,
            format,
            out,
            push,
            access,
        } => commands::package(
            select.crate_selection(),
            &tag,
            format,
            out.as_deref(),
            push.as_deref(),
            &access.access(),
        ),
        Command::Manifests {
            select,
            image,
            digest,
            record,
            config,
            namespace,
            selector,
            target_ref,
            all_workloads,
            mode,
            port,
            phase,
            priority,
            fail_strategy,
            pull_policy,
            pull_secret,
            env,
            out,
            access,
        } => {
            let scope = Scope {
                namespace,
                selector,
                target_refs: target_ref,
                all_workloads,
                mode: mode.map(|mode| match mode {
                    ModeArg::Server => Mode::Server,
                    ModeArg::Client => Mode::Client,
                    ModeArg::ClientAndServer => Mode::ClientAndServer,
                }),
                ports: port,
                phase: match phase {
                    PhaseArg::Authn => Phase::Authn,
                    PhaseArg::Authz => Phase::Authz,
                    PhaseArg::Stats => Phase::Stats,
                    PhaseArg::Unspecified => Phase::Unspecified,
                },
                priority,
                fail_strategy: match fail_strategy {
                    FailArg::Close => FailStrategy::Close,
                    FailArg::Open => FailStrategy::Open,
                    FailArg::Reload => FailStrategy::Reload,
                },
                pull_policy: match pull_policy {
                    PullArg::IfNotPresent => PullPolicy::IfNotPresent,
                    PullArg::Always => PullPolicy::Always,
                },
                pull_secret,
                env,
            };
            commands::manifests(
                select.crate_selection(),
                &commands::ManifestOptions {
                    image: &image,
                    digest: digest.as_deref(),
                    record: record.as_deref(),
                    config: config.as_deref(),
                    out: out.as_deref(),
                    scope,
                    access: access.access(),
                },
            )
        }
        Command::Test { select, args } => commands::test(select.crate_selection(), &args),
        Command::Run {
            select,
            target,
            upstream,
            cluster,
            port,
            admin_port,
            config,
            no_watch,
        } => {
            let (host, upstream_port) = run::host_port(&upstream)?;
            let mut clusters = vec![("upstream".to_owned(), host, upstream_port)];
            for (name, address) in cluster {
                let (host, port) = run::host_port(&address)?;
                clusters.push((name, host, port));
            }
            commands::run(
                select.crate_selection(),
                &run::RunOptions {
                    native: matches!(target, Target::Native),
                    listen: port,
                    admin: admin_port,
                    clusters,
                    config,
                    watch: !no_watch,
                },
            )
        }
        Command::Schema(select) => commands::schema(select.crate_selection()),
    }
}

fn main() -> ExitCode {
    let Cargo::EnvoyWasm(cli) = Cargo::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
