//! Loading a filter: the crate linked into the test, or its compiled module in an embedded
//! VM; and the VM's failure.

use super::guest::Guest;
use super::harness::WASM_RUN;
use super::host::EmulatorHost;
use super::{Emulator, wasm};
use crate::abi::LogLevel;
use crate::abi::imports::install_host;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

impl Emulator {
    /// Loads a filter crate: pass the `register_plugin` function that
    /// [`entry!`](crate::entry) defines. Logs are kept from `info` up, as Envoy's default.
    pub fn new(register_plugin: fn()) -> Emulator {
        // Inside `on_wasm` (an `#[emulator_test]`'s second run): the crate's module instead.
        if let Some(module) = WASM_RUN.with(|run| run.borrow().clone()) {
            return Emulator::from_wasm(module);
        }
        let emulator = Emulator::with_guest(|_| Ok(Guest::Native));
        register_plugin();
        emulator
    }

    /// Loads a compiled filter module (`target/wasm32-wasip1/release/my_filter.wasm`) into
    /// an embedded VM, instead of the crate linked into the test: the same emulator, the
    /// same assertions, against the artifact Envoy runs. Data the host returns goes
    /// through the module's `proxy_on_memory_allocate`, its WASI imports behave as
    /// Envoy's, and a trap fails the VM as in Envoy (see [`vm_failure`](Emulator::vm_failure)).
    /// The module is compiled once per test binary.
    ///
    /// # Panics
    /// When the module cannot be read or does not load (a missing import, say), with the
    /// reason.
    pub fn from_wasm(module: impl AsRef<std::path::Path>) -> Emulator {
        Emulator::try_from_wasm(module).unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`from_wasm`](Emulator::from_wasm), with the reason as an `Err` instead of a panic
    /// when the module cannot be read or does not load (for tools, such as
    /// `cargo envoy-wasm manifests`, which runs the filter's `configure` on a configuration
    /// before writing manifests for it).
    ///
    /// # Errors
    /// Why the module did not load.
    pub fn try_from_wasm(module: impl AsRef<std::path::Path>) -> Result<Emulator, String> {
        let path = module.as_ref().to_path_buf();
        Emulator::try_with_guest(|host| {
            let vm = wasm::WasmVm::load(&path, host, &[])?;
            Ok(Guest::Wasm(Box::new(vm)))
        })
    }

    fn with_guest(guest: impl FnOnce(Rc<EmulatorHost>) -> Result<Guest, String>) -> Emulator {
        Emulator::try_with_guest(guest).unwrap_or_else(|error| panic!("{error}"))
    }

    fn try_with_guest(
        guest: impl FnOnce(Rc<EmulatorHost>) -> Result<Guest, String>,
    ) -> Result<Emulator, String> {
        let host = Rc::new(EmulatorHost::default());
        host.state.borrow_mut().log_level = LogLevel::Info;
        host.state.borrow_mut().vm_id = "emulator".into();
        host.state
            .borrow_mut()
            .properties
            .insert(b"plugin_vm_id".to_vec(), b"emulator".to_vec());
        let previous = install_host(Some(host.clone()));
        assert!(
            previous.is_none(),
            "another Emulator is alive on this thread; use one per test"
        );
        let guest = guest(host.clone()).inspect_err(|_| {
            install_host(None);
        })?;
        let emulator = Emulator {
            host,
            guest,
            vm_failure: RefCell::new(None),
            default_plugin: Cell::new(None),
            next_context: Cell::new(1),
            last_tick: RefCell::new(HashMap::new()),
            answered: RefCell::new(HashSet::new()),
            http_responder: RefCell::new(None),
            grpc_responder: RefCell::new(None),
            router: Rc::new(RefCell::new(None)),
            route_cache_clears: Rc::new(Cell::new(0)),
        };
        emulator.offer_envoy_foreign_functions();
        Ok(emulator)
    }

    /// Whether this emulator runs the compiled module (see [`from_wasm`](Emulator::from_wasm)).
    pub fn on_wasm(&self) -> bool {
        matches!(self.guest, Guest::Wasm(_))
    }

    /// Why the VM failed, if it has: the trap (a panic aborts the VM) and the callback it
    /// happened in. As in Envoy, a failed VM is called no more: the stream that trapped
    /// and every later one is answered `503` with no body, a connection is closed, and a
    /// configuration is refused. (On the native backend a panic is re-raised in the test
    /// instead.)
    pub fn vm_failure(&self) -> Option<String> {
        self.vm_failure.borrow().clone()
    }
}
