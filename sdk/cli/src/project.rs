//! The filter crate a command acts on, found with `cargo metadata`.

use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    /// How the crate depends on envoy-wasm-sdk, as a Cargo dependency line's value.
    pub sdk_dependency: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    version: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
    crate_types: Vec<String>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    req: String,
    kind: Option<String>,
    path: Option<PathBuf>,
}

/// The SDK's package name.
pub const SDK_PACKAGE: &str = "envoy-wasm-sdk";

impl FilterCrate {
    /// Finds the crate named `package` in the workspace of `manifest_path` (or of the current
    /// folder); without a name, the package whose folder holds the current folder.
    pub fn find(package: Option<&str>, manifest_path: Option<&Path>) -> Result<FilterCrate> {
        let mut command = Command::new(cargo());
        command.args(["metadata", "--format-version", "1", "--no-deps"]);
        if let Some(path) = manifest_path {
            command.arg("--manifest-path").arg(path);
        }
        let output = command
            .output()
            .map_err(|e| Error::new(format!("cannot run cargo metadata: {e}")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(Error::new(format!(
                "cargo metadata failed: {}",
                stderr.trim().lines().last().unwrap_or("no output")
            )));
        }
        let metadata: Metadata = serde_json::from_slice(&output.stdout)
            .map_err(|e| Error::new(format!("cannot read cargo metadata: {e}")))?;
        let members = metadata
            .packages
            .iter()
            .filter(|p| metadata.workspace_members.contains(&p.id));
        let chosen = match package {
            Some(name) => members.clone().find(|p| p.name == name).ok_or_else(|| {
                Error::new(format!(
                    "no package `{name}` in the workspace at {}",
                    metadata.workspace_root.display()
                ))
            })?,
            None => {
                let here = std::env::current_dir()
                    .map_err(|e| Error::new(format!("cannot read the current folder: {e}")))?;
                members
                    .filter(|p| {
                        p.manifest_path
                            .parent()
                            .is_some_and(|dir| here.starts_with(dir))
                    })
                    .max_by_key(|p| p.manifest_path.components().count())
                    .ok_or_else(|| {
                        Error::new(
                            "no package here: run in a filter crate's folder or pass -p CRATE",
                        )
                    })?
            }
        };
        let lib = chosen
            .targets
            .iter()
            .find(|t| t.kind.iter().any(|k| k.ends_with("lib")));
        let sdk_dependency = chosen
            .dependencies
            .iter()
            .find(|d| d.name == SDK_PACKAGE && d.kind.is_none())
            .map(|d| match &d.path {
                Some(path) => format!("{{ path = {:?} }}", path.display().to_string()),
                None => format!("{{ version = {:?} }}", d.req),
            });
        Ok(FilterCrate {
            name: chosen.name.clone(),
            lib_name: lib.map_or_else(|| chosen.name.replace('-', "_"), |t| t.name.clone()),
            version: chosen.version.clone(),
            dir: chosen
                .manifest_path
                .parent()
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            workspace_root: metadata.workspace_root,
            target_dir: metadata.target_directory,
            crate_types: lib.map(|t| t.crate_types.clone()).unwrap_or_default(),
            sdk_dependency,
        })
    }

    /// Fails unless the crate builds a `cdylib`, the form Envoy loads.
    pub fn require_cdylib(&self) -> Result<()> {
        if self.crate_types.iter().any(|t| t == "cdylib") {
            return Ok(());
        }
        Err(Error::new(format!(
            "`{}` is not a cdylib: add `crate-type = [\"cdylib\", \"rlib\"]` under [lib] in {}",
            self.name,
            self.dir.join("Cargo.toml").display()
        )))
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
            .map_err(|e| Error::new(format!("cannot run cargo build: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::new(format!(
                "cargo build of `{}`{what} failed",
                self.name
            )))
        }
    }
}

/// The cargo that called this tool, else `cargo` on PATH.
pub fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}
