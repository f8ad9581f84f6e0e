//! The emulator's second backend: the compiled `.wasm` in an embedded VM (wasmi, a
//! pure-Rust interpreter), its imports served from the same host state the native
//! emulator uses.
//!
//! What Envoy (proxy-wasm-cpp-host) gives a module, this gives it too:
//! - every `env.proxy_*` host function, through the same [`EmulatorHost`] (data the host
//!   returns goes through the module's `proxy_on_memory_allocate`; an empty value is
//!   pointer 0 and size 0, nothing allocated);
//! - WASI as Envoy has it, not the real system: `fd_write` to stdout and stderr becomes log
//!   lines (info and error), other descriptors are refused; `fd_read` is not supported;
//!   `fd_seek` and `fd_close` do nothing; `fd_fdstat_get` answers for stdout and stderr
//!   only; `environ_*` are the VM's environment variables; there are no arguments;
//!   `clock_time_get` knows the real-time clock only (the emulator's); `random_get` fills
//!   the buffer; `proc_exit` is logged. Any other import is missing, and the module does not
//!   load, as in Envoy.
//! - `_initialize` (or `_start`) runs once when the module loads.
//!
//! A trap (a panic aborts the VM) fails the VM for good, as in Envoy.

use super::guest_calls::{GUEST_CALLS, GuestCall, GuestMemory};
use super::host::EmulatorHost;
use crate::abi::LogLevel;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};
use wasmi::{
    Caller, Engine, Func, FuncType, Instance, Linker, Memory, Module, Store, Val, ValType,
};

/// What the VM's host functions reach.
struct VmData {
    host: Rc<EmulatorHost>,
    /// `name=value` pairs for `environ_*`.
    environment: Vec<String>,
    memory: Option<Memory>,
    allocate: Option<Func>,
    /// xorshift state for `random_get`.
    random: u64,
}

/// A loaded module and its instance.
pub(crate) struct WasmVm {
    store: RefCell<Store<VmData>>,
    instance: Instance,
    exports: Vec<String>,
}

/// One engine for the whole test binary, and each module compiled once.
fn module(path: &Path) -> Result<(Engine, Module), String> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Module>>> = OnceLock::new();
    let engine = ENGINE.get_or_init(Engine::default).clone();
    let modules = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut modules = modules.lock().unwrap_or_else(|poison| poison.into_inner());
    if let Some(module) = modules.get(path) {
        return Ok((engine, module.clone()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let module = Module::new(&engine, &bytes)
        .map_err(|e| format!("{} is not a module the VM loads: {e}", path.display()))?;
    modules.insert(path.to_path_buf(), module.clone());
    Ok((engine, module))
}

impl WasmVm {
    /// Loads `path`, links it to `host` and runs its initializer.
    pub(crate) fn load(
        path: &Path,
        host: Rc<EmulatorHost>,
        environment: &[(String, String)],
    ) -> Result<WasmVm, String> {
        let (engine, module) = module(path)?;
        let data = VmData {
            host,
            environment: environment
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
            memory: None,
            allocate: None,
            random: 0x2545_f491_4f6c_dd1d,
        };
        let mut store = Store::new(&engine, data);
        let mut linker = Linker::<VmData>::new(&engine);
        for calls in GUEST_CALLS {
            for call in calls.iter().copied() {
                link_host_call(&mut linker, call)?;
            }
        }
        for module in ["wasi_snapshot_preview1", "wasi_unstable"] {
            link_wasi(&mut linker, module)?;
        }
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| format!("Envoy would not load {}: {e}", path.display()))?;
        let exports: Vec<String> = module.exports().map(|e| e.name().to_owned()).collect();
        store.data_mut().memory = instance.get_memory(&store, "memory");
        store.data_mut().allocate = instance.get_func(&store, "proxy_on_memory_allocate");
        let vm = WasmVm {
            store: RefCell::new(store),
            instance,
            exports,
        };
        // A WASI reactor's initializer, else a command's entry point, once.
        for start in ["_initialize", "_start"] {
            if vm.exports(start) {
                vm.call(start, &[])?;
                break;
            }
        }
        Ok(vm)
    }

    /// Whether the module exports `name`.
    pub(crate) fn exports(&self, name: &str) -> bool {
        self.exports.iter().any(|export| export == name)
    }

    /// Calls export `name` with 32-bit arguments; its result (0 if it has none), or the
    /// trap.
    pub(crate) fn call(&self, name: &str, args: &[u64]) -> Result<u32, String> {
        let mut store = self.store.borrow_mut();
        let func = self
            .instance
            .get_func(&*store, name)
            .ok_or_else(|| format!("the module does not export {name}"))?;
        let ty = func.ty(&*store);
        let inputs: Vec<Val> = ty
            .params()
            .iter()
            .zip(args.iter().chain(std::iter::repeat(&0)))
            .map(|(ty, arg)| match ty {
                ValType::I64 => Val::I64(*arg as i64),
                _ => Val::I32(*arg as u32 as i32),
            })
            .collect();
        let mut outputs: Vec<Val> = ty.results().iter().map(|_| Val::I32(0)).collect();
        func.call(&mut *store, &inputs, &mut outputs)
            .map_err(|trap| trap.to_string())?;
        Ok(match outputs.first() {
            Some(Val::I32(value)) => *value as u32,
            Some(Val::I64(value)) => *value as u32,
            _ => 0,
        })
    }
}

/// The module's memory and allocator, as a host function sees them.
struct GuestSide<'a, 'b> {
    caller: &'a mut Caller<'b, VmData>,
}

impl GuestSide<'_, '_> {
    /// Writes each `(pointer, value)` as the guest's 32-bit word: WASI's success, or
    /// `EFAULT` for a pointer outside its memory.
    fn write_words(&mut self, words: &[(i32, u32)]) -> i32 {
        let written = words
            .iter()
            .all(|(at, value)| self.write(*at as u32, &value.to_le_bytes()));
        if written { ESUCCESS } else { EFAULT }
    }

    /// Writes `bytes` at `at`: WASI's success, or `EFAULT`.
    fn put(&mut self, at: i32, bytes: &[u8]) -> i32 {
        if self.write(at as u32, bytes) {
            ESUCCESS
        } else {
            EFAULT
        }
    }
}

impl GuestMemory for GuestSide<'_, '_> {
    fn read(&mut self, ptr: u32, len: u32) -> Option<Vec<u8>> {
        let memory = self.caller.data().memory?;
        let mut bytes = vec![0; len as usize];
        if len > 0 {
            memory.read(&*self.caller, ptr as usize, &mut bytes).ok()?;
        }
        Some(bytes)
    }

    fn write(&mut self, ptr: u32, bytes: &[u8]) -> bool {
        match self.caller.data().memory {
            Some(memory) => memory.write(&mut *self.caller, ptr as usize, bytes).is_ok(),
            None => false,
        }
    }

    fn give(&mut self, ptr_ptr: u32, size_ptr: u32, value: Vec<u8>) -> bool {
        let address = if value.is_empty() {
            0
        } else {
            let Some(allocate) = self.caller.data().allocate else {
                return false;
            };
            let mut result = [Val::I32(0)];
            let size = Val::I32(value.len() as i32);
            if allocate
                .call(&mut *self.caller, &[size], &mut result)
                .is_err()
            {
                return false;
            }
            let Val::I32(address) = result[0] else {
                return false;
            };
            if address == 0 || !self.write(address as u32, &value) {
                return false;
            }
            address as u32
        };
        self.write(ptr_ptr, &address.to_le_bytes())
            && self.write(size_ptr, &(value.len() as u32).to_le_bytes())
    }
}

fn link_host_call(linker: &mut Linker<VmData>, call: GuestCall) -> Result<(), String> {
    let params: Vec<ValType> = call
        .params
        .iter()
        .map(|wide| if *wide { ValType::I64 } else { ValType::I32 })
        .collect();
    let ty = FuncType::new(params, [ValType::I32]);
    linker
        .func_new("env", call.name, ty, move |mut caller, params, results| {
            let host = caller.data().host.clone();
            let mut raw = params.iter().map(|param| match param {
                Val::I32(value) => u64::from(*value as u32),
                Val::I64(value) => *value as u64,
                _ => 0,
            });
            let status = (call.run)(
                &*host,
                &mut GuestSide {
                    caller: &mut caller,
                },
                &mut raw,
            );
            results[0] = Val::I32(status as i32);
            Ok(())
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// WASI's error numbers the host answers with.
const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const ENOSYS: i32 = 52;
const ENOTSUP: i32 = 58;

/// The WASI functions Envoy gives a module, as Envoy does them (see the module docs).
fn link_wasi(linker: &mut Linker<VmData>, module: &str) -> Result<(), String> {
    let error = |e: wasmi::errors::LinkerError| e.to_string();
    linker
        .func_wrap(
            module,
            "fd_write",
            |mut caller: Caller<'_, VmData>, fd: i32, iovs: i32, count: i32, written: i32| -> i32 {
                let level = match fd {
                    1 => LogLevel::Info,
                    2 => LogLevel::Error,
                    _ => return EBADF,
                };
                let mut side = GuestSide {
                    caller: &mut caller,
                };
                let mut text = Vec::new();
                for i in 0..count.max(0) as u32 {
                    let Some(entry) = side.read(iovs as u32 + i * 8, 8) else {
                        return EFAULT;
                    };
                    let word = |at: usize| {
                        u32::from_le_bytes([entry[at], entry[at + 1], entry[at + 2], entry[at + 3]])
                    };
                    let Some(bytes) = side.read(word(0), word(4)) else {
                        return EFAULT;
                    };
                    text.extend_from_slice(&bytes);
                }
                let total = text.len() as u32;
                if text.last() == Some(&b'\n') {
                    text.pop();
                }
                if !text.is_empty() {
                    side.caller
                        .data()
                        .host
                        .log_line(level, String::from_utf8_lossy(&text).into_owned());
                }
                side.put(written, &total.to_le_bytes())
            },
        )
        .map_err(error)?
        .func_wrap(module, "fd_read", |_: i32, _: i32, _: i32, _: i32| -> i32 {
            ENOSYS
        })
        .map_err(error)?
        .func_wrap(
            module,
            "fd_seek",
            |caller: Caller<'_, VmData>, _: i32, _: i64, _: i32, _: i32| -> i32 {
                caller
                    .data()
                    .host
                    .log_line(LogLevel::Trace, "wasi_unstable fd_seek".into());
                ESUCCESS
            },
        )
        .map_err(error)?
        .func_wrap(
            module,
            "fd_close",
            |caller: Caller<'_, VmData>, _: i32| -> i32 {
                caller
                    .data()
                    .host
                    .log_line(LogLevel::Trace, "wasi_unstable fd_close".into());
                ESUCCESS
            },
        )
        .map_err(error)?
        .func_wrap(
            module,
            "fd_fdstat_get",
            |mut caller: Caller<'_, VmData>, fd: i32, stat: i32| -> i32 {
                if fd != 1 && fd != 2 {
                    return EBADF;
                }
                // Zeroes, and the right to write (`__WASI_RIGHTS_FD_WRITE`).
                let mut bytes = [0u8; 24];
                bytes[8] = 64;
                let mut side = GuestSide {
                    caller: &mut caller,
                };
                side.put(stat, &bytes)
            },
        )
        .map_err(error)?
        .func_wrap(
            module,
            "environ_sizes_get",
            |mut caller: Caller<'_, VmData>, count: i32, size: i32| -> i32 {
                let environment = &caller.data().environment;
                let total: usize = environment.iter().map(|entry| entry.len() + 1).sum();
                let entries = environment.len() as u32;
                let mut side = GuestSide {
                    caller: &mut caller,
                };
                side.write_words(&[(count, entries), (size, total as u32)])
            },
        )
        .map_err(error)?
        .func_wrap(
            module,
            "environ_get",
            |mut caller: Caller<'_, VmData>, pointers: i32, buffer: i32| -> i32 {
                let environment = caller.data().environment.clone();
                let mut side = GuestSide {
                    caller: &mut caller,
                };
                let (mut pointer, mut at) = (pointers as u32, buffer as u32);
                for entry in environment {
                    let mut bytes = entry.into_bytes();
                    bytes.push(0);
                    if !side.write(pointer, &at.to_le_bytes()) || !side.write(at, &bytes) {
                        return EFAULT;
                    }
                    pointer += 4;
                    at += bytes.len() as u32;
                }
                ESUCCESS
            },
        )
        .map_err(error)?
        .func_wrap(module, "args_get", |_: i32, _: i32| -> i32 { ESUCCESS })
        .map_err(error)?
        .func_wrap(
            module,
            "args_sizes_get",
            |mut caller: Caller<'_, VmData>, count: i32, size: i32| -> i32 {
                let mut side = GuestSide {
                    caller: &mut caller,
                };
                side.write_words(&[(count, 0), (size, 0)])
            },
        )
        .map_err(error)?
        .func_wrap(
            module,
            "clock_time_get",
            |mut caller: Caller<'_, VmData>, clock: i32, _precision: i64, time: i32| -> i32 {
                if clock != 0 {
                    return ENOTSUP;
                }
                let now = caller.data().host.state.borrow().now_nanos;
                let mut side = GuestSide {
                    caller: &mut caller,
                };
                side.put(time, &now.to_le_bytes())
            },
        )
        .map_err(error)?
        .func_wrap(
            module,
            "random_get",
            |mut caller: Caller<'_, VmData>, buffer: i32, length: i32| -> i32 {
                let mut bytes = Vec::with_capacity(length.max(0) as usize);
                let state = &mut caller.data_mut().random;
                while bytes.len() < length.max(0) as usize {
                    *state ^= *state << 13;
                    *state ^= *state >> 7;
                    *state ^= *state << 17;
                    bytes.push(*state as u8);
                }
                let mut side = GuestSide {
                    caller: &mut caller,
                };
                side.put(buffer, &bytes)
            },
        )
        .map_err(error)?
        .func_wrap(
            module,
            "proc_exit",
            |caller: Caller<'_, VmData>, _code: i32| {
                caller
                    .data()
                    .host
                    .log_line(LogLevel::Error, "wasi_unstable proc_exit".into());
            },
        )
        .map_err(error)?;
    Ok(())
}
