//! Running `cargo envoy-wasm` as a user does: the built binary, in a chosen folder.

use crate::wasm::project_root;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What one run printed.
#[derive(Debug)]
pub struct CliRun {
    /// Whether it exited 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliRun {
    /// The lines of standard error that start with `error`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error"))
            .collect()
    }
}

/// The `cargo-envoy-wasm` binary, built once per process.
pub fn cli_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let root = project_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--quiet", "-p", "cargo-envoy-wasm"])
            .status()
            .expect("cannot run cargo to build the CLI");
        assert!(status.success(), "building cargo-envoy-wasm failed");
        root.join("target/debug/cargo-envoy-wasm")
    })
}

/// Runs `cargo envoy-wasm ARGS` in `dir`.
pub fn cargo_envoy_wasm(dir: &Path, args: &[&str]) -> CliRun {
    let output = Command::new(cli_binary())
        .arg("envoy-wasm")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cannot run cargo-envoy-wasm");
    CliRun {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `cargo envoy-wasm ARGS` in the repository and insists that it succeeds.
pub fn cargo_envoy_wasm_ok(args: &[&str]) -> CliRun {
    let run = cargo_envoy_wasm(&project_root(), args);
    assert!(
        run.success,
        "cargo envoy-wasm {args:?} failed:\n{}",
        run.stderr
    );
    run
}

/// Where crates made by tests (scaffolded, or copied from the README) are built: shared
/// between them, so a second one compiles only itself.
pub fn scratch_target() -> std::path::PathBuf {
    project_root().join("target/scaffold")
}

/// Builds the crate at `dir` for wasm32-wasip1 (release), in [`scratch_target`]: the module
/// its emulator tests' second runs load.
pub fn cargo_build_wasm_crate(dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip1"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scratch_target())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

/// Runs `cargo test` in the crate at `dir` (built in [`scratch_target`]) and returns its
/// standard output; panics with both outputs if it fails.
pub fn cargo_test_crate(dir: &Path) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tested = Command::new(cargo)
        .arg("test")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scratch_target())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    let stdout = String::from_utf8_lossy(&tested.stdout).into_owned();
    assert!(
        tested.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    stdout
}
