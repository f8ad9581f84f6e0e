//! Locating (and building, once per process) the examples' `.wasm` files.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The repository root.
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The builds done in this process, as `"<crate> <arguments>"`.
static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Runs `cargo build <args> -p <name>` from the repository root, once per process for
/// each crate and arguments, so a test never runs against a stale build; `what`
/// names the build in a failure.
pub(crate) fn build_once(name: &str, args: &[&str], what: &str) {
    let key = format!("{name} {}", args.join(" "));
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let built = built.get_or_insert_with(HashSet::new);
    if built.contains(&key) {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(project_root())
        .arg("build")
        .args(args)
        .args(["-p", name])
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {name} {what}: {e}"));
    assert!(status.success(), "building {name} {what} failed");
    built.insert(key);
}

/// The release `.wasm` of example crate `name`, built first (once per process) so a test
/// never runs against a stale module.
pub fn wasm_path(name: &str) -> PathBuf {
    build_once(
        name,
        &["--release", "--target", "wasm32-wasip1"],
        "for wasm32-wasip1",
    );
    project_root()
        .join("target/wasm32-wasip1/release")
        .join(format!("{name}.wasm"))
}
