//! Context lifecycle and configuration. `proxy_on_done` is not exported: the SDK defers no
//! work, so Envoy treats every context as done at once.

use crate::runtime::dispatch;

/// Envoy created context `context_id`: a plugin context (`parent_context_id` 0), or a
/// stream or connection of plugin context `parent_context_id`, which it is bound to.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_context_id: u32) {
    crate::host::context::entered(context_id, || {
        dispatch::on_context_create(context_id, parent_context_id);
    })
}

/// The VM starts; the SDK sets up logging here and runs the plugin's
/// [`on_vm_start`](crate::Plugin::on_vm_start).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_vm_start(root_context_id: u32, vm_configuration_size: usize) -> u32 {
    crate::host::context::entered(root_context_id, || {
        dispatch::on_vm_start(root_context_id, vm_configuration_size) as u32
    })
}

/// The plugin is configured; returning 0 rejects the configuration.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(root_context_id: u32, configuration_size: usize) -> u32 {
    crate::host::context::entered(root_context_id, || {
        dispatch::on_configure(root_context_id, configuration_size) as u32
    })
}

/// Last look at a finished context (access-log time). Exported by
/// [`http_filter`](crate::http_filter) when the filter implements `on_stream_done`.
pub fn proxy_on_log(context_id: u32) {
    crate::host::context::entered(context_id, || {
        dispatch::on_log(context_id);
    })
}

/// The context is gone: a stream's or connection's filter and binding are dropped, or a
/// plugin context with its plugin.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    crate::host::context::entered(context_id, || {
        dispatch::on_delete(context_id);
    })
}
