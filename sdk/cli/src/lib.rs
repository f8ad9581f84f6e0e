//! The library behind `cargo envoy-wasm`: scaffold a filter crate, build it to
//! `wasm32-wasip1` (or as an Envoy dynamic module, [`native`]), package it as an OCI image, push it to a registry, derive its
//! configuration schema, and write Istio and Envoy manifests for it.
//!
//! Each subcommand is a function in [`commands`]; the modules below are its parts, usable on
//! their own (the project's integration tests use [`image`] and [`manifests`] directly).
//!
//! ```no_run
//! use cargo_envoy_wasm::commands::{self, Selection};
//!
//! let crate_ = Selection { package: Some("my_filter"), ..Selection::default() };
//! commands::package(crate_, "my_filter:0.1.0", "compat", None, None, false)?;
//! # Ok::<(), cargo_envoy_wasm::Error>(())
//! ```

pub mod commands;
pub mod image;
pub mod manifests;
pub mod native;
pub mod project;
pub mod registry;
pub mod scaffold;
pub mod schema;
pub mod wasm;

use std::fmt;
use std::path::Path;

/// What went wrong, as the one line the tool prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }

    /// An I/O failure on `path`.
    pub fn io(action: &str, path: &Path, error: std::io::Error) -> Error {
        Error(format!("cannot {action} {}: {error}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The result of every operation here.
pub type Result<T> = std::result::Result<T, Error>;

/// Writes `files` (name, contents) into `dir` so that either all of them land or none does:
/// each goes to a temporary name first, and the renames happen only when every write worked.
pub fn write_all_or_nothing(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let staged: Vec<_> = files
        .iter()
        .map(|(name, _)| dir.join(format!(".{name}.partial")))
        .collect();
    let written = files
        .iter()
        .zip(&staged)
        .try_for_each(|((_, bytes), path)| {
            std::fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
        });
    if let Err(error) = written {
        staged
            .iter()
            .for_each(|path| drop(std::fs::remove_file(path)));
        return Err(error);
    }
    for ((name, _), path) in files.iter().zip(&staged) {
        let target = dir.join(name);
        std::fs::rename(path, &target).map_err(|e| Error::io("write", &target, e))?;
    }
    Ok(())
}
