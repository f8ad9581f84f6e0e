//! Building a filter crate as an Envoy dynamic module: the SDK's native target.
//!
//! The same crate, built for the host with the SDK's `dynamic-module` feature, is a shared
//! library `lib<name>.so` that `envoy.filters.http.dynamic_modules` loads. It runs
//! natively, without Wasm's sandbox, and only in an Envoy whose dynamic-module ABI it was
//! built for (the SDK's README, "Native target").

use crate::project::FilterCrate;
use crate::{PathContext as _, Result};
use anyhow::bail;
use std::path::PathBuf;

/// The hook `entry!` exports in a native build: its name marks a dynamic module.
const PROGRAM_INIT: &[u8] = b"envoy_dynamic_module_on_program_init";

/// A built dynamic module.
#[derive(Debug, Clone)]
pub struct Library {
    /// The file, `target/envoy-wasm/CRATE/lib<name>.so`.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Builds `filter` as a dynamic module: the `native` profile (release, but a panic unwinds
/// to the SDK's hook instead of aborting Envoy) with `envoy-wasm-sdk/dynamic-module`.
pub fn build(filter: &FilterCrate) -> Result<Library> {
    filter.require_cdylib()?;
    filter.cargo_build(
        &[
            "--profile",
            "native",
            // Defined here too, so a workspace without a `native` profile builds as well.
            "--config",
            "profile.native.inherits=\"release\"",
            "--config",
            "profile.native.panic=\"unwind\"",
            "--features",
            "envoy-wasm-sdk/dynamic-module",
            "--lib",
        ],
        " as a dynamic module",
    )?;
    let file = format!("lib{}.so", filter.lib_name);
    let built = filter.target_dir.join("native").join(&file);
    let bytes = std::fs::read(&built).on_path("read", &built)?;
    if !bytes.windows(PROGRAM_INIT.len()).any(|w| w == PROGRAM_INIT) {
        bail!(
            "{} exports no envoy_dynamic_module_on_program_init: does the crate call \
             `envoy_wasm_sdk::entry!`?",
            built.display()
        );
    }
    let dir = filter.work_dir();
    std::fs::create_dir_all(&dir).on_path("create", &dir)?;
    let path = dir.join(&file);
    std::fs::write(&path, &bytes).on_path("write", &path)?;
    Ok(Library {
        path,
        size: bytes.len() as u64,
    })
}
