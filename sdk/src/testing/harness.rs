//! The wasm run of a test: [`on_wasm`], and where it finds the crate's module.

use std::cell::RefCell;
use std::time::SystemTime;

/// The environment variables with which `cargo envoy-wasm test` hands the wasm runs the
/// module it built as shipped, and the crate it is of.
pub const SHIPPED_MODULE: &str = "ENVOY_WASM_SDK_TEST_MODULE";

/// See [`SHIPPED_MODULE`].
pub const SHIPPED_CRATE: &str = "ENVOY_WASM_SDK_TEST_CRATE";

thread_local! {
    /// The module the emulators of this thread load instead of the linked crate.
    pub(super) static WASM_RUN: RefCell<Option<std::path::PathBuf>> = const { RefCell::new(None) };
}

/// Runs `test` with every [`Emulator::new`] in it loading the compiled module of the crate
/// whose manifest is in `manifest_dir` (`target/wasm32-wasip1/release/<crate>.wasm` of its
/// workspace, or of `$CARGO_TARGET_DIR`). This is the second run of an
/// [`emulator_test`]; call it directly for a test of your own.
///
/// # Panics
/// When the module is not built: with the command that builds it.
///
/// [`Emulator::new`]: super::Emulator::new
/// [`emulator_test`]: super::emulator_test
pub fn on_wasm(crate_name: &str, manifest_dir: &str, test: impl FnOnce() + Send + 'static) {
    let module = artifact(crate_name, std::path::Path::new(manifest_dir));
    // The interpreter and the host calls it makes back into the module (allocations) nest
    // on the thread's stack: in a debug build, more than a test thread's 2 MiB.
    // Named as the test is (libtest names each test's thread after it), so a failure
    // names the test, not the crate.
    let name = std::thread::current()
        .name()
        .map_or_else(|| format!("{crate_name}_on_wasm"), str::to_owned);
    let run = std::thread::Builder::new()
        .name(name)
        .stack_size(64 << 20)
        .spawn(move || {
            WASM_RUN.with(|run| *run.borrow_mut() = Some(module));
            test();
        })
        .expect("a thread for the wasm run");
    if let Err(panic) = run.join() {
        std::panic::resume_unwind(panic);
    }
}

/// When the newest file at or under `path` changed.
fn newest_change(path: &std::path::Path) -> Option<SystemTime> {
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_dir() {
        return metadata.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| newest_change(&entry.path()))
        .max()
}

/// Where cargo puts crate `crate_name`'s release module.
fn artifact(crate_name: &str, manifest_dir: &std::path::Path) -> std::path::PathBuf {
    // `cargo envoy-wasm test` names the module it built as shipped (release, `wasm-opt`).
    if let (Some(module), Some(tested)) = (
        std::env::var_os(SHIPPED_MODULE),
        std::env::var_os(SHIPPED_CRATE),
    ) && tested == crate_name
    {
        return module.into();
    }
    let file = format!("{}.wasm", crate_name.replace('-', "_"));
    let relative = std::path::Path::new("wasm32-wasip1/release").join(&file);
    let mut candidates: Vec<std::path::PathBuf> = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| std::path::PathBuf::from(dir).join(&relative))
        .into_iter()
        .collect();
    candidates.extend(
        manifest_dir
            .ancestors()
            .map(|dir| dir.join("target").join(&relative)),
    );
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        // A module older than the crate's sources would test yesterday's code.
        let built = std::fs::metadata(found).and_then(|m| m.modified()).ok();
        let changed = newest_change(&manifest_dir.join("src"))
            .into_iter()
            .chain(newest_change(&manifest_dir.join("Cargo.toml")))
            .max();
        if let (Some(built), Some(changed)) = (built, changed)
            && changed > built
        {
            panic!(
                "{} is older than {crate_name}'s sources: test with `cargo envoy-wasm test`, \
                 which builds the module first, or rebuild it with \
                 `cargo build --release --target wasm32-wasip1 -p {crate_name}`",
                found.display()
            );
        }
        return found.clone();
    }
    panic!(
        "the wasm run of this test needs {crate_name}'s module, which is not built: \
         run `cargo build --release --target wasm32-wasip1 -p {crate_name}` first \
         (looked for {})",
        candidates
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}
