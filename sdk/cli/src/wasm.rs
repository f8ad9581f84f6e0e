//! Building a filter crate to the module Envoy loads.

use crate::project::{FilterCrate, cargo};
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target Envoy's Wasm runtimes load.
pub const TARGET: &str = "wasm32-wasip1";

/// A built module.
#[derive(Debug, Clone)]
pub struct Module {
    /// The file.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Whether `wasm-opt` optimized it.
    pub optimized: bool,
}

/// Builds `filter` in release mode for [`TARGET`] (adding the target with rustup when it is
/// missing), then runs `wasm-opt -O3` over it when `wasm-opt` is on PATH. The result is
/// `target/envoy-wasm/CRATE/plugin.wasm`.
pub fn build(filter: &FilterCrate) -> Result<Module> {
    filter.require_cdylib()?;
    ensure_target()?;
    let status = Command::new(cargo())
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--package",
            &filter.name,
        ])
        .arg("--manifest-path")
        .arg(filter.workspace_root.join("Cargo.toml"))
        .status()
        .map_err(|e| Error::new(format!("cannot run cargo build: {e}")))?;
    if !status.success() {
        return Err(Error::new(format!(
            "cargo build of `{}` failed",
            filter.name
        )));
    }
    let built = filter
        .target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", filter.lib_name));
    let dir = filter.work_dir();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
    let path = dir.join("plugin.wasm");
    let optimized = optimize(&built, &path);
    if !optimized {
        std::fs::copy(&built, &path).map_err(|e| Error::io("copy", &built, e))?;
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    Ok(Module {
        path,
        bytes,
        optimized,
    })
}

/// Reads a module built elsewhere, checking it is WebAssembly.
pub fn read(path: &Path) -> Result<Module> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    if !bytes.starts_with(b"\0asm") {
        return Err(Error::new(format!(
            "{} is not a WebAssembly module",
            path.display()
        )));
    }
    Ok(Module {
        path: path.to_path_buf(),
        bytes,
        optimized: false,
    })
}

fn ensure_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l == TARGET) =>
        {
            Ok(())
        }
        // No rustup: the toolchain may still have the target; cargo will say if not.
        Err(_) => Ok(()),
        Ok(_) => {
            eprintln!("adding the {TARGET} target with rustup");
            let status = Command::new("rustup")
                .args(["target", "add", TARGET])
                .status()
                .map_err(|e| Error::new(format!("cannot run rustup: {e}")))?;
            if status.success() {
                Ok(())
            } else {
                Err(Error::new(format!("rustup target add {TARGET} failed")))
            }
        }
    }
}

/// The WebAssembly features rustc's `wasm32-wasip1` target uses by default.
const RUSTC_WASM_FEATURES: [&str; 6] = [
    "bulk-memory",
    "sign-ext",
    "nontrapping-float-to-int",
    "mutable-globals",
    "multivalue",
    "reference-types",
];

/// `wasm-opt -O3` (speed first, as the release profile; it still shrinks the module).
/// A missing or failing `wasm-opt` leaves the module as cargo built it.
fn optimize(input: &Path, output: &Path) -> bool {
    let result = Command::new("wasm-opt")
        .arg("-O3")
        // What rustc enables for wasm32-wasip1 (the stripped module no longer says so).
        .args(RUSTC_WASM_FEATURES.map(|feature| format!("--enable-{feature}")))
        .arg(input)
        .arg("-o")
        .arg(output)
        .output();
    match result {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!(
                "warning: wasm-opt failed, keeping the module unoptimized: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(_) => false,
    }
}
