//! Envoy's dynamic-module event hooks for a bootstrap extension
//! (`envoy.bootstrap.dynamic_modules`): a service, as Envoy's Wasm singleton
//! (`envoy.bootstrap.wasm` with `singleton: true`) is one.
//!
//! The extension's `extension_name` names the plugin (its `root_id`, and its `vm_id` for
//! the queues it registers) and `extension_config` is its configuration. The plugin is
//! configured on the main thread when Envoy loads the bootstrap (an `Err` stops Envoy,
//! naming the field) and lives there: its timers are Envoy's main-thread timers, and an
//! item a worker enqueues on a queue it registered wakes it through the configuration's
//! scheduler (`proxy_on_queue_ready` on the main thread, once per item).
//!
//! Its HTTP callouts (`PluginOps::http_call`) are the extension's, answered on the main
//! thread (Envoy has the clusters once the server is up: not yet in `configure`).
//!
//! Envoy resolves every bootstrap hook when it loads such an extension, so the module
//! exports them all; those a service has no use for do nothing.

use super::answers::{RawAnswer, take_answer};
use super::hooks::{barrier, on_worker};
use super::host::Scope;
use super::{Kind, PluginConfig, WORKER, config_destroy, config_new, config_of};
use crate::abi::dynamic_module::{
    BootstrapConfigEnvoyPtr, BootstrapTimerPtr, EnvoyBuffer, EnvoyHeader, FilterConfigModulePtr,
    callbacks,
};
use crate::runtime::exports::{callouts, root};
use std::ffi::c_void;

/// The module's object for one bootstrap extension (the configuration's: a service has
/// one extension).
type ExtensionModulePtr = *const c_void;
/// Envoy's object for one bootstrap extension.
type ExtensionEnvoyPtr = *mut c_void;

/// Runs export `name` on the plugin context of service configuration `module`, on the
/// main thread; the configuration, if it ran (not for a failed thread or a plugin that
/// could not be configured).
///
/// # Safety
/// `module` is null or a pointer `config_new` returned.
unsafe fn run_on_service(
    module: FilterConfigModulePtr,
    name: &str,
    call: impl FnOnce(u32),
) -> Option<&'static PluginConfig> {
    // SAFETY: as the caller promises.
    let plugin = unsafe { config_of(module) }?;
    barrier(
        || None,
        || {
            WORKER.with(|worker| {
                let root = worker.root_of(plugin)?;
                worker.run(name, Scope::plugin(plugin), || call(root))?;
                Some(plugin)
            })
        },
    )
}

/// Envoy loads a bootstrap extension (main thread): its plugin is configured now, and
/// Envoy is told the extension is ready; null (a refused configuration, or an Envoy
/// without the callbacks a service needs) makes Envoy refuse the bootstrap.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_config_new(
    envoy: BootstrapConfigEnvoyPtr,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> FilterConfigModulePtr {
    let module = config_new(envoy, name, config, Kind::Service);
    if !module.is_null()
        && let Some(ready) = callbacks().bootstrap_extension_config_signal_init_complete
    {
        // SAFETY: Envoy's configuration object, in its `config_new` hook.
        unsafe { ready(envoy) };
    }
    module
}

/// Envoy drops a bootstrap extension's configuration (main thread).
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_config_destroy(
    module: FilterConfigModulePtr,
) {
    config_destroy(module);
}

/// Envoy makes the extension of a configuration: the configuration stands for it.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_new(
    module: FilterConfigModulePtr,
    _envoy: ExtensionEnvoyPtr,
) -> ExtensionModulePtr {
    module
}

/// The server is up. Nothing to do: the plugin was configured when Envoy loaded it.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_server_initialized(
    _envoy: ExtensionEnvoyPtr,
    _module: ExtensionModulePtr,
) {
}

/// A worker started. Nothing to do: a service lives on the main thread.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_worker_thread_initialized(
    _envoy: ExtensionEnvoyPtr,
    _module: ExtensionModulePtr,
) {
}

/// Envoy starts draining. Nothing to do.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_drain_started(
    _envoy: ExtensionEnvoyPtr,
    _module: ExtensionModulePtr,
) {
}

/// Envoy shuts down: the service has nothing to finish, so it says done at once.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_shutdown(
    _envoy: ExtensionEnvoyPtr,
    _module: ExtensionModulePtr,
    done: Option<unsafe extern "C" fn(*mut c_void)>,
    context: *mut c_void,
) {
    if let Some(done) = done {
        // SAFETY: Envoy's completion callback with its own context, called once.
        unsafe { done(context) };
    }
}

/// Envoy drops the extension; its configuration goes in `config_destroy`.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_destroy(_module: ExtensionModulePtr) {
}

/// An item reached a queue the service registered (`event` is the queue's id), committed
/// by the worker that enqueued it: the service's `proxy_on_queue_ready`, on the main thread.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_config_scheduled(
    _envoy: BootstrapConfigEnvoyPtr,
    module: FilterConfigModulePtr,
    event: u64,
) {
    let Ok(queue) = u32::try_from(event) else {
        return;
    };
    // SAFETY: Envoy passes the pointer `config_new` returned.
    unsafe {
        run_on_service(module, "proxy_on_queue_ready", |root| {
            root::proxy_on_queue_ready(root, queue);
        })
    };
}

/// The service's timer fired: its `proxy_on_tick`, then the timer armed again for the
/// period the plugin set (Envoy's timers fire once).
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_timer_fired(
    _envoy: BootstrapConfigEnvoyPtr,
    module: FilterConfigModulePtr,
    timer: BootstrapTimerPtr,
) {
    // SAFETY: Envoy passes the pointer `config_new` returned.
    let ticked =
        unsafe { run_on_service(module, "proxy_on_tick", |root| root::proxy_on_tick(root)) };
    // A tick that could not run (a failed thread) is not armed again.
    if let Some(plugin) = ticked {
        on_worker(|worker| worker.host.rearm_service_timer(plugin, timer));
    }
}

/// A watched file changed. A service watches none.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_file_changed(
    _envoy: BootstrapConfigEnvoyPtr,
    _module: FilterConfigModulePtr,
    _path: EnvoyBuffer,
    _events: u32,
) {
}

/// A cluster was added or updated. A service does not ask for these.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_cluster_add_or_update(
    _envoy: BootstrapConfigEnvoyPtr,
    _module: FilterConfigModulePtr,
    _name: EnvoyBuffer,
) {
}

/// A cluster was removed. A service does not ask for these.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_cluster_removal(
    _envoy: BootstrapConfigEnvoyPtr,
    _module: FilterConfigModulePtr,
    _name: EnvoyBuffer,
) {
}

/// A listener was added or updated. A service does not ask for these.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_listener_add_or_update(
    _envoy: BootstrapConfigEnvoyPtr,
    _module: FilterConfigModulePtr,
    _name: EnvoyBuffer,
) {
}

/// A listener was removed. A service does not ask for these.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_listener_removal(
    _envoy: BootstrapConfigEnvoyPtr,
    _module: FilterConfigModulePtr,
    _name: EnvoyBuffer,
) {
}

/// An admin request for a handler the module registered. A service registers none: 404.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_admin_request(
    _envoy: BootstrapConfigEnvoyPtr,
    _module: FilterConfigModulePtr,
    _method: EnvoyBuffer,
    _path: EnvoyBuffer,
    _body: EnvoyBuffer,
) -> u32 {
    404
}

/// A service's HTTP callout finished (main thread): the answer goes to its plugin context,
/// as a Wasm singleton's does.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_bootstrap_extension_http_callout_done(
    envoy: BootstrapConfigEnvoyPtr,
    module: FilterConfigModulePtr,
    callout_id: u64,
    result: u32,
    headers: *const EnvoyHeader,
    header_count: usize,
    chunks: *const EnvoyBuffer,
    chunk_count: usize,
) {
    // SAFETY: a pointer `config_new` returned.
    let Some(plugin) = (unsafe { config_of(module) }) else {
        return;
    };
    on_worker(|worker| {
        let raw = RawAnswer::new(result, (headers, header_count), (chunks, chunk_count));
        // SAFETY: Envoy's arrays, valid during this hook.
        let Some((token, header_count, body_size)) =
            (unsafe { take_answer(&worker.host, envoy, callout_id, raw) })
        else {
            return;
        };
        if let Some(root) = worker.root_of(plugin) {
            worker.run("proxy_on_http_call_response", Scope::plugin(plugin), || {
                callouts::proxy_on_http_call_response(root, token, header_count, body_size, 0);
            });
        }
        worker.host.clear_answer();
    });
}
