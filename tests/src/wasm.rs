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

static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// The release `.wasm` of example crate `name`, built first (once per process) so a test
/// never runs against a stale module.
pub fn wasm_path(name: &str) -> PathBuf {
    let root = project_root();
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let built = built.get_or_insert_with(HashSet::new);
    if !built.contains(name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip1",
                "-p",
                name,
            ])
            .status()
            .expect("cannot run cargo to build the example's wasm");
        assert!(status.success(), "building {name} for wasm32-wasip1 failed");
        built.insert(name.to_owned());
    }
    root.join("target/wasm32-wasip1/release")
        .join(format!("{name}.wasm"))
}
