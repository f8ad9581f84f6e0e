//! The filter crate a command acts on, found with `cargo metadata`.

use crate::Result;
use anyhow::{Context as _, anyhow, bail};
use cargo_metadata::{DependencyKind, MetadataCommand, TargetKind};
use std::path::{Path, PathBuf};

/// A filter crate in a Cargo workspace.
#[derive(Debug, Clone)]
pub struct FilterCrate {
    /// The package name (`my_filter`).
    pub name: String,
    /// The library's name (`my_filter`, with `-` as `_`): what the `.wasm` file is called.
    pub lib_name: String,
    /// The package version.
    pub version: String,
    /// The folder holding its Cargo.toml.
    pub dir: PathBuf,
    /// The workspace's root folder.
    pub workspace_root: PathBuf,
    /// The workspace's target folder.
    pub target_dir: PathBuf,
    /// The library's crate types (`cdylib`, `rlib`).
    pub crate_types: Vec<String>,
    /// How the crate depends on envoy-wasm-sdk (a normal dependency), if it does.
    pub sdk_dependency: Option<SdkDependency>,
}

/// Where a filter crate gets envoy-wasm-sdk from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkDependency {
    /// A local checkout (`path = "..."`).
    Path(PathBuf),
    /// A published version requirement (`version = "^0.1.0"`).
    Version(String),
}

impl SdkDependency {
    /// The dependency as a Cargo.toml inline table, with `features` after the source.
    pub(crate) fn table(&self, features: &[&str]) -> toml_edit::InlineTable {
        let mut table = toml_edit::InlineTable::new();
        match self {
            SdkDependency::Path(path) => {
                table.insert("path", path.display().to_string().into());
            }
            SdkDependency::Version(version) => {
                table.insert("version", version.as_str().into());
            }
        }
        if !features.is_empty() {
            table.insert(
                "features",
                features
                    .iter()
                    .copied()
                    .collect::<toml_edit::Array>()
                    .into(),
            );
        }
        table.fmt();
        table
    }
}

/// The SDK's package name.
pub const SDK_PACKAGE: &str = "envoy-wasm-sdk";

impl FilterCrate {
    /// Finds the crate named `package` in the workspace of `manifest_path` (or of the current
    /// folder); without a name, the package whose folder holds the current folder.
    pub fn find(package: Option<&str>, manifest_path: Option<&Path>) -> Result<FilterCrate> {
        let mut command = MetadataCommand::new();
        command.cargo_path(cargo()).no_deps();
        if let Some(path) = manifest_path {
            command.manifest_path(path);
        }
        let metadata = command.exec().map_err(|error| match error {
            // Cargo's own reason is its last line (the lines before are context).
            cargo_metadata::Error::CargoMetadata { stderr } => anyhow!(
                "cargo metadata failed: {}",
                stderr.trim().lines().last().unwrap_or("no output")
            ),
            other => anyhow::Error::new(other).context("cannot run cargo metadata"),
        })?;
        let members = metadata.workspace_packages().into_iter();
        let chosen = match package {
            Some(name) => members.clone().find(|p| *p.name == name).ok_or_else(|| {
                anyhow!(
                    "no package `{name}` in the workspace at {}",
                    metadata.workspace_root
                )
            })?,
            None => {
                let here = std::env::current_dir().context("cannot read the current folder")?;
                members
                    .filter(|p| {
                        p.manifest_path
                            .parent()
                            .is_some_and(|dir| here.starts_with(dir))
                    })
                    .max_by_key(|p| p.manifest_path.components().count())
                    .ok_or_else(|| {
                        anyhow!("no package here: run in a filter crate's folder or pass -p CRATE")
                    })?
            }
        };
        let lib = chosen
            .targets
            .iter()
            .find(|t| t.kind.iter().any(is_library));
        let sdk_dependency = chosen
            .dependencies
            .iter()
            .find(|d| d.name == SDK_PACKAGE && d.kind == DependencyKind::Normal)
            .map(|d| match &d.path {
                Some(path) => SdkDependency::Path(path.clone().into_std_path_buf()),
                None => SdkDependency::Version(d.req.to_string()),
            });
        Ok(FilterCrate {
            name: chosen.name.to_string(),
            lib_name: lib.map_or_else(|| chosen.name.replace('-', "_"), |t| t.name.clone()),
            version: chosen.version.to_string(),
            dir: chosen
                .manifest_path
                .parent()
                .map_or_else(|| PathBuf::from("."), |dir| dir.as_std_path().to_path_buf()),
            crate_types: lib
                .map(|t| t.crate_types.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            sdk_dependency,
            workspace_root: metadata.workspace_root.into_std_path_buf(),
            target_dir: metadata.target_directory.into_std_path_buf(),
        })
    }

    /// Fails unless the crate builds a `cdylib`, the form Envoy loads.
    pub fn require_cdylib(&self) -> Result<()> {
        if self.crate_types.iter().any(|t| t == "cdylib") {
            return Ok(());
        }
        bail!(
            "`{}` is not a cdylib: add `crate-type = [\"cdylib\", \"rlib\"]` under [lib] in {}",
            self.name,
            self.dir.join("Cargo.toml").display()
        )
    }

    /// Where this tool keeps what it makes for the crate: `target/envoy-wasm/CRATE`.
    pub fn work_dir(&self) -> PathBuf {
        self.target_dir.join("envoy-wasm").join(&self.name)
    }

    /// Runs `cargo build` of this crate in its workspace with `args`; a failure says it
    /// built `what`.
    pub fn cargo_build(&self, args: &[&str], what: &str) -> Result<()> {
        let status = std::process::Command::new(cargo())
            .arg("build")
            .args(args)
            .args(["--package", &self.name])
            .arg("--manifest-path")
            .arg(self.workspace_root.join("Cargo.toml"))
            .status()
            .context("cannot run cargo build")?;
        if !status.success() {
            bail!("cargo build of `{}`{what} failed", self.name);
        }
        Ok(())
    }
}

/// Whether a target of this kind is a library (`lib`, `rlib`, `dylib`, `cdylib`, `staticlib`).
fn is_library(kind: &TargetKind) -> bool {
    matches!(
        kind,
        TargetKind::Lib
            | TargetKind::RLib
            | TargetKind::DyLib
            | TargetKind::CDyLib
            | TargetKind::StaticLib
    )
}

/// The cargo that called this tool, else `cargo` on PATH.
pub fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}
