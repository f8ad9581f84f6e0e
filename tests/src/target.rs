//! Which build of a filter the harness loads into Envoy: its `.wasm` (the Wasm filter) or
//! its dynamic module (the SDK's native target). A test runs on the target of its thread;
//! [`on_both_targets!`](crate::on_both_targets) runs a test on each.

use crate::wasm::{build_once, project_root};
use std::cell::Cell;
use std::path::PathBuf;

/// A build of a filter crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `wasm32-wasip1`, loaded by `envoy.filters.http.wasm`.
    Wasm,
    /// `lib<name>.so`, loaded by `envoy.filters.http.dynamic_modules`.
    Native,
}

thread_local! {
    static TARGET: Cell<Target> = const { Cell::new(Target::Wasm) };
}

impl Target {
    /// The target tests on this thread load (`Wasm` unless [`run`](Target::run) says).
    pub fn current() -> Target {
        TARGET.with(Cell::get)
    }

    /// Runs `test` with this target as the current one.
    pub fn run(self, test: impl FnOnce()) {
        struct Restore(Target);
        impl Drop for Restore {
            fn drop(&mut self) {
                TARGET.with(|target| target.set(self.0));
            }
        }
        let _restore = Restore(TARGET.with(|target| target.replace(self)));
        test();
    }
}

impl Target {
    /// What Envoy logs when the plugin refuses its configuration on this target, beside
    /// the plugin's own line.
    pub fn refusal(self) -> &'static str {
        match self {
            Target::Wasm => "Failed to configure base Wasm plugin",
            Target::Native => "Failed to initialize dynamic module",
        }
    }
}

/// The dynamic module of filter crate `name` (`target/native/lib<name>.so`), built first
/// (once per process) with the SDK's `dynamic-module` feature and the `native` profile,
/// as `cargo native` builds it.
pub fn native_path(name: &str) -> PathBuf {
    build_once(
        name,
        &[
            "--profile",
            "native",
            "--features",
            "envoy-wasm-sdk/dynamic-module",
        ],
        "as a dynamic module",
    );
    project_root()
        .join("target/native")
        .join(format!("lib{name}.so"))
}

/// Defines each test twice, with the same body: `<name>::wasm` loads the filter's
/// `.wasm`, `<name>::native` its dynamic module.
///
/// ```ignore
/// envoy_tests::on_both_targets! {
///     fn adds_the_header() {
///         let (_upstream, envoy) = envoy_tests::serve(&envoy_tests::Plugin::new("hello_world"));
///         // ...
///     }
/// }
/// ```
#[macro_export]
macro_rules! on_both_targets {
    ($( $(#[$meta:meta])* fn $name:ident() $body:block )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body() $body

            #[test]
            fn wasm() {
                $crate::Target::Wasm.run(body)
            }

            #[test]
            fn native() {
                $crate::Target::Native.run(body)
            }
        }
    )*};
}
