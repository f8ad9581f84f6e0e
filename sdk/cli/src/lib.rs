//! The library behind `cargo envoy-wasm`: scaffold a filter crate, build it to
//! `wasm32-wasip1` (or as an Envoy dynamic module, [`native`]), package it as an OCI image, push it to a registry, derive its
//! configuration schema, and write Istio and Envoy manifests for it.
//!
//! Each subcommand is a function in [`commands`]; the modules below are its parts, usable on
//! their own (the project's integration tests use [`image`] and [`manifests`] directly).
//!
//! ```no_run
//! use cargo_envoy_wasm::commands::{self, Selection};
//! use cargo_envoy_wasm::image::Format;
//! use cargo_envoy_wasm::registry::Access;
//!
//! let crate_ = Selection { package: Some("my_filter"), ..Selection::default() };
//! commands::package(crate_, "my_filter:0.1.0", Format::Compat, None, None, &Access::default())?;
//! # Ok::<(), cargo_envoy_wasm::Error>(())
//! ```

pub mod commands;
pub mod image;
pub mod manifests;
pub mod native;
pub mod project;
pub mod registry;
pub mod run;
pub mod scaffold;
pub mod schema;
pub mod wasm;

use anyhow::Context as _;
use std::path::Path;

/// What went wrong: what the tool was doing, and the error that caused it, kept as its
/// [`source`](std::error::Error::source) (an [`anyhow::Error`]). `{}` shows the outermost
/// message; `{:#}` the whole chain on one line (`cannot write x: Permission denied`), as
/// the tool prints it.
pub type Error = anyhow::Error;

/// The result of every operation here.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Context for I/O on a path: the error reads `cannot ACTION PATH: CAUSE`.
pub(crate) trait PathContext<T> {
    /// `self`, with the failure described as `cannot {action} {path}`.
    fn on_path(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> PathContext<T> for std::io::Result<T> {
    fn on_path(self, action: &str, path: &Path) -> Result<T> {
        self.with_context(|| format!("cannot {action} {}", path.display()))
    }
}

/// Writes `files` (name, contents) into `dir` so that either all of them land or none does:
/// each goes to a temporary name first, and the renames happen only when every write worked.
pub fn write_all_or_nothing(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir_all(dir).on_path("create", dir)?;
    let staged: Vec<_> = files
        .iter()
        .map(|(name, _)| dir.join(format!(".{name}.partial")))
        .collect();
    let written = files
        .iter()
        .zip(&staged)
        .try_for_each(|((_, bytes), path)| std::fs::write(path, bytes).on_path("write", path));
    if let Err(error) = written {
        staged
            .iter()
            .for_each(|path| drop(std::fs::remove_file(path)));
        return Err(error);
    }
    for ((name, _), path) in files.iter().zip(&staged) {
        let target = dir.join(name);
        std::fs::rename(path, &target).on_path("write", &target)?;
    }
    Ok(())
}
