//! Building a filter crate to the module Envoy loads.

use crate::project::FilterCrate;
use crate::{PathContext as _, Result};
use anyhow::{Context as _, anyhow, bail};
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
    filter.cargo_build(&["--release", "--target", TARGET], "")?;
    let built = filter
        .target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", filter.lib_name));
    let dir = filter.work_dir();
    std::fs::create_dir_all(&dir).on_path("create", &dir)?;
    let path = dir.join("plugin.wasm");
    let optimized = optimize(&built, &path);
    if !optimized {
        std::fs::copy(&built, &path).on_path("copy", &built)?;
    }
    let bytes = std::fs::read(&path).on_path("read", &path)?;
    Ok(Module {
        path,
        bytes,
        optimized,
    })
}

/// Reads a module built elsewhere, checking it is WebAssembly.
pub fn read(path: &Path) -> Result<Module> {
    let bytes = std::fs::read(path).on_path("read", path)?;
    if !bytes.starts_with(b"\0asm") {
        bail!("{} is not a WebAssembly module", path.display());
    }
    Ok(Module {
        path: path.to_path_buf(),
        bytes,
        optimized: false,
    })
}

/// What kind of filter a module is, from what it exports to Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// An HTTP filter (`envoy.filters.http.wasm`).
    Http,
    /// A network filter only (`envoy.filters.network.wasm`): it exports the connection
    /// callbacks and none of the HTTP stream ones.
    Network,
}

impl Module {
    /// The module's exported function names.
    pub fn exports(&self) -> Result<Vec<String>> {
        exported_names(&self.bytes).ok_or_else(|| {
            anyhow!(
                "{} is not a well-formed WebAssembly module",
                self.path.display()
            )
        })
    }

    /// [`FilterKind`]: a module with network callbacks and no HTTP ones is a network filter.
    pub fn kind(&self) -> Result<FilterKind> {
        let exports = self.exports()?;
        let has = |prefixes: &[&str]| {
            exports
                .iter()
                .any(|name| prefixes.iter().any(|p| name.starts_with(p)))
        };
        let http = has(&["proxy_on_request_", "proxy_on_response_"]);
        let network = has(&["proxy_on_new_connection", "proxy_on_downstream_"]);
        Ok(if network && !http {
            FilterKind::Network
        } else {
            FilterKind::Http
        })
    }
}

/// The names in a module's export section (section 7); `None` if the bytes are not a
/// well-formed module.
fn exported_names(bytes: &[u8]) -> Option<Vec<String>> {
    let mut at = bytes.strip_prefix(b"\0asm")?.get(4..)?;
    while let Some((&id, rest)) = at.split_first() {
        let (size, rest) = leb128(rest)?;
        let (section, next) = (rest.get(..size)?, rest.get(size..)?);
        at = next;
        if id != 7 {
            continue;
        }
        let (count, mut entries) = leb128(section)?;
        let mut names = Vec::with_capacity(count);
        for _ in 0..count {
            let (length, rest) = leb128(entries)?;
            let name = std::str::from_utf8(rest.get(..length)?).ok()?;
            let (_kind, rest) = rest.get(length..)?.split_first()?;
            let (_index, rest) = leb128(rest)?;
            names.push(name.to_owned());
            entries = rest;
        }
        return Some(names);
    }
    Some(Vec::new())
}

/// An unsigned LEB128 number (at most 32 bits, as the module format's), and what follows.
fn leb128(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut value = 0usize;
    for (i, byte) in bytes.iter().enumerate().take(5) {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
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
                .context("cannot run rustup")?;
            if status.success() {
                Ok(())
            } else {
                Err(anyhow!("rustup target add {TARGET} failed"))
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
