//! `cargo envoy-wasm`: see the crate's README, or `cargo envoy-wasm --help`.

use cargo_envoy_wasm::{Error, commands};
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
    /// Writes the filter as an OCI image layout, and optionally pushes it to a registry.
    Package {
        #[command(flatten)]
        select: Select,
        /// The image's name and version, `NAME:VERSION`.
        #[arg(long)]
        tag: String,
        /// `compat`: one tar+gzip layer holding plugin.wasm (read first by Istio);
        /// `artifact`: the two-layer Wasm artifact.
        #[arg(long, default_value = "compat")]
        format: String,
        /// The image layout's folder (default: target/envoy-wasm/CRATE/oci).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also push to `REGISTRY/REPOSITORY[:TAG]` (the tag defaults to VERSION).
        #[arg(long, value_name = "REF")]
        push: Option<String>,
        /// Allow plain HTTP to a registry that is not on loopback.
        #[arg(long)]
        insecure: bool,
    },
    /// Writes wasmplugin.yaml, trafficextension.yaml, envoyfilter.yaml and envoy.yaml.
    Manifests {
        #[command(flatten)]
        select: Select,
        /// The image, `oci://REGISTRY/REPOSITORY:TAG`, as the mesh will pull it.
        #[arg(long)]
        image: String,
        /// The plugin's configuration (JSON or YAML), checked against the config schema.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The image format the digest is computed for (as `package --format`).
        #[arg(long, default_value = "compat")]
        format: String,
        /// Where to write (default: target/envoy-wasm/CRATE/manifests).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Prints the JSON Schema of the plugin's configuration type.
    Schema(Select),
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
            insecure,
        } => commands::package(
            select.crate_selection(),
            &tag,
            &format,
            out.as_deref(),
            push.as_deref(),
            insecure,
        ),
        Command::Manifests {
            select,
            image,
            config,
            format,
            out,
        } => commands::manifests(
            select.crate_selection(),
            &image,
            config.as_deref(),
            &format,
            out.as_deref(),
        ),
        Command::Schema(select) => commands::schema(select.crate_selection()),
    }
}

fn main() -> ExitCode {
    let Cargo::EnvoyWasm(cli) = Cargo::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
