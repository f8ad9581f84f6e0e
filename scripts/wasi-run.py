#!/usr/bin/env python3
"""Cargo's runner for wasm32-wasip1 (see .cargo/config.toml): runs a WASI test binary under
Wasmtime (the `wasmtime` package scripts/setup.sh installs into .venv/). Envoy's `env.proxy_*`
imports trap if called: what runs here is the SDK's own code, not the host."""
import glob
import os
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = glob.glob(os.path.join(root, ".venv/lib/python3*/site-packages"))
from wasmtime import Engine, ExitTrap, Linker, Module, Store, WasiConfig  # noqa: E402

engine = Engine()
module = Module.from_file(engine, sys.argv[1])
linker = Linker(engine)
linker.define_wasi()
linker.define_unknown_imports_as_traps(module)
wasi = WasiConfig()
wasi.argv = [os.path.basename(sys.argv[1])] + sys.argv[2:]
wasi.inherit_stdout()
wasi.inherit_stderr()
store = Store(engine)
store.set_wasi(wasi)
try:
    linker.instantiate(store, module).exports(store)["_start"](store)
except ExitTrap as exit_trap:
    sys.exit(exit_trap.code)
