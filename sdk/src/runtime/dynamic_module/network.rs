//! Envoy's dynamic-module event hooks for a network filter
//! (`envoy.filters.network.dynamic_modules`), each driving the runtime's proxy-wasm
//! network exports on the calling thread, as Envoy's Wasm network filter does:
//!
//! - a new connection: `proxy_on_context_create`, then `proxy_on_new_connection`;
//! - Envoy's read path (the client's bytes): `proxy_on_downstream_data`;
//! - its write path (the upstream's bytes): `proxy_on_upstream_data`, and at the upstream's
//!   end of stream `proxy_on_upstream_connection_close` (peer unknown);
//! - the connection's close (`RemoteClose`, or `LocalClose` when Envoy or the filter
//!   closed it): `proxy_on_downstream_connection_close`, once, then `proxy_on_log`;
//! - the filter's destruction: `proxy_on_delete`.
//!
//! What the filter asks of its connection from inside a hook (closing it, resuming it)
//! happens when the hook returns, as Envoy defers it for a Wasm filter. A module that
//! failed (a panic) closes its connections, as a failed Wasm filter's are.

use super::hooks::{barrier, on_worker, take_module};
use super::host::{NativeHost, Scope};
use super::{Kind, PluginConfig, WORKER, callback, config_destroy, config_new, config_of, skips};
use crate::abi::PeerType;
use crate::abi::dynamic_module::{
    EnvoyBuffer, FilterConfigModulePtr, FilterModulePtr, NetworkConfigEnvoyPtr,
    NetworkFilterEnvoyPtr, connection_event, status,
};
use crate::runtime::exports::{lifecycle, network};
use std::cell::Cell;

/// The module's object for one connection.
struct Connection {
    context_id: u32,
    plugin: &'static PluginConfig,
    /// Envoy's network filter of the connection.
    filter: NetworkFilterEnvoyPtr,
    /// Envoy announced the connection's close (the filter's close ran).
    closed: Cell<bool>,
    /// The module failed on this connection, which is being closed.
    failed: Cell<bool>,
}

/// The connection behind a module pointer Envoy hands back (`None` for null).
///
/// # Safety
/// `module` must be null, or a pointer `envoy_dynamic_module_on_network_filter_new`
/// returned and `envoy_dynamic_module_on_network_filter_destroy` has not freed.
unsafe fn connection_of<'a>(module: FilterModulePtr) -> Option<&'a Connection> {
    // SAFETY: the caller's contract: null or a live `Box<Connection>` made by `filter_new`.
    unsafe { module.cast::<Connection>().as_ref() }
}

impl Connection {
    fn scope(&self) -> Scope {
        Scope::connection(self.filter, self.plugin)
    }

    /// Runs the connection's export `name` (when the filter implements it, flag `bit`);
    /// `StopIteration` if the filter paused, or the module failed (which closes the
    /// connection).
    fn run(&self, bit: u16, name: &str, call: impl FnOnce(u32) -> u32) -> u32 {
        WORKER.with(|worker| {
            if self.failed.get() {
                return status::STOP;
            }
            if worker.failed.get() {
                return self.fail();
            }
            if !worker.implements(bit) {
                return status::CONTINUE;
            }
            worker.host.begin_hook();
            let result = worker.run(name, self.scope(), || call(self.context_id));
            worker.host.end_hook();
            match result {
                Some(0) => status::CONTINUE,
                Some(_) => status::STOP,
                None => self.fail(),
            }
        })
    }

    /// The module failed: the connection is closed, as Envoy closes a failed Wasm
    /// filter's.
    fn fail(&self) -> u32 {
        if !self.failed.replace(true) {
            WORKER.with(|worker| worker.host.close_now(self.filter));
        }
        status::STOP
    }
}

/// A data hook's body behind the barrier: a panic the runtime did not catch fails the
/// connection.
fn data_hook(module: FilterModulePtr, bit: u16, name: &str, call: impl FnOnce(u32) -> u32) -> u32 {
    // SAFETY: Envoy passes the pointer `filter_new` returned, until `destroy`.
    let Some(connection) = (unsafe { connection_of(module) }) else {
        return status::CONTINUE;
    };
    // A callback the filter does not implement, and no thread failed: what `run` answers,
    // without the thread's runtime.
    if skips(bit) {
        return match connection.failed.get() {
            true => status::STOP,
            false => status::CONTINUE,
        };
    }
    barrier(|| connection.fail(), || connection.run(bit, name, call))
}

/// Envoy loads a network filter configuration (main thread); null rejects it.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_network_filter_config_new(
    envoy: NetworkConfigEnvoyPtr,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> FilterConfigModulePtr {
    config_new(envoy, name, config, Kind::Network)
}

/// Envoy drops a network filter configuration (main thread), after its last connection.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_network_filter_config_destroy(
    config: FilterConfigModulePtr,
) {
    config_destroy(config);
}

/// A connection starts (worker thread): its plugin context there is made first if needed.
/// Null (a plugin that could not be configured, or a failed module) makes Envoy close the
/// connection.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_network_filter_new(
    config: FilterConfigModulePtr,
    filter: NetworkFilterEnvoyPtr,
) -> FilterModulePtr {
    // SAFETY: a pointer `config_new` returned.
    let Some(plugin) = (unsafe { config_of(config) }) else {
        return std::ptr::null();
    };
    barrier(std::ptr::null, || {
        WORKER.with(|worker| {
            let Some(root) = (!worker.failed.get())
                .then(|| worker.root_of(plugin))
                .flatten()
            else {
                return std::ptr::null();
            };
            let context_id = worker.next_context_id();
            let scope = Scope::connection(filter, plugin);
            worker.host.add_context(context_id, scope, None);
            // Bound to its configuration's plugin context, as Envoy announces a Wasm
            // connection with its root context.
            let created = worker
                .run("proxy_on_context_create", scope, || {
                    lifecycle::proxy_on_context_create(context_id, root);
                })
                .is_some();
            if !created {
                worker.host.remove_context(context_id);
                return std::ptr::null();
            }
            let connection = Connection {
                context_id,
                plugin,
                filter,
                closed: Cell::new(false),
                failed: Cell::new(false),
            };
            Box::into_raw(Box::new(connection)).cast_const().cast()
        })
    })
}

/// The connection is established.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_network_filter_new_connection(
    _filter: NetworkFilterEnvoyPtr,
    module: FilterModulePtr,
) -> u32 {
    data_hook(
        module,
        callback::NEW_CONNECTION,
        "proxy_on_new_connection",
        network::proxy_on_new_connection,
    )
}

/// Bytes from the client (`data_length`: all the read buffer holds, what a pause held too).
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_network_filter_read(
    _filter: NetworkFilterEnvoyPtr,
    module: FilterModulePtr,
    data_length: usize,
    end_stream: bool,
) -> u32 {
    data_hook(
        module,
        callback::DOWNSTREAM_DATA,
        "proxy_on_downstream_data",
        |id| network::proxy_on_downstream_data(id, data_length, u32::from(end_stream)),
    )
}

/// Bytes from the upstream, on their way to the client; at its end of stream, Envoy's
/// Wasm filter reports the upstream's close too (peer unknown), and so does this.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_network_filter_write(
    _filter: NetworkFilterEnvoyPtr,
    module: FilterModulePtr,
    data_length: usize,
    end_stream: bool,
) -> u32 {
    let status = data_hook(
        module,
        callback::UPSTREAM_DATA,
        "proxy_on_upstream_data",
        |id| network::proxy_on_upstream_data(id, data_length, u32::from(end_stream)),
    );
    if end_stream {
        data_hook(
            module,
            callback::UPSTREAM_CLOSE,
            "proxy_on_upstream_connection_close",
            |id| {
                network::proxy_on_upstream_connection_close(id, PeerType::Unknown as u32);
                0
            },
        );
    }
    status
}

/// A connection event: its close is the filter's (once), then its last look.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_network_filter_event(
    _filter: NetworkFilterEnvoyPtr,
    module: FilterModulePtr,
    event: u32,
) {
    let peer = match event {
        connection_event::REMOTE_CLOSE => PeerType::Remote,
        connection_event::LOCAL_CLOSE => PeerType::Local,
        _ => return,
    };
    // SAFETY: Envoy passes the pointer `filter_new` returned, until `destroy`.
    let Some(connection) = (unsafe { connection_of(module) }) else {
        return;
    };
    if connection.closed.replace(true) {
        return;
    }
    on_worker(|worker| {
        if worker.failed.get() {
            return;
        }
        let scope = connection.scope();
        if worker.implements(callback::DOWNSTREAM_CLOSE) {
            worker.host.begin_hook();
            worker.run("proxy_on_downstream_connection_close", scope, || {
                network::proxy_on_downstream_connection_close(connection.context_id, peer as u32);
            });
            worker.host.end_hook();
        }
        worker.last_look(scope, connection.context_id);
    });
}

/// The connection's filter is gone.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_network_filter_destroy(module: FilterModulePtr) {
    // SAFETY: the pointer `filter_new` returned (a `Box<Connection>`), freed only here.
    let Some(connection) = (unsafe { take_module::<Connection>(module) }) else {
        return;
    };
    let filter = connection.filter;
    end_context(connection.context_id, connection.plugin, true, |host| {
        host.forget_connection(filter);
    });
}

/// The end of a connection's context (its `destroy` hook): the host forgets
/// it (and `forget` what it held of it), then the plugin's `proxy_on_delete` runs if the
/// context was `made`. Envoy's object is going away: only the plugin is in scope.
fn end_context(
    context_id: u32,
    plugin: &'static PluginConfig,
    made: bool,
    forget: impl FnOnce(&NativeHost),
) {
    on_worker(|worker| {
        worker.host.remove_context(context_id);
        forget(&worker.host);
        if made && worker.implements(callback::DELETE) {
            worker.run("proxy_on_delete", Scope::plugin(plugin), || {
                lifecycle::proxy_on_delete(context_id);
            });
        }
    });
}
