//! Context lifecycle and configuration. Neither `proxy_on_context_create` nor
//! `proxy_on_done` is exported: plugin contexts are made when Envoy first starts or
//! configures them, stream contexts at their first callback, and the SDK defers no work,
//! so Envoy treats every context as done at once.

use crate::runtime::dispatch;

/// The VM starts; the SDK sets up logging here.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_vm_start(root_context_id: u32, vm_configuration_size: usize) -> u32 {
    dispatch::on_vm_start(root_context_id, vm_configuration_size) as u32
}

/// The plugin is configured; returning 0 rejects the configuration.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(root_context_id: u32, configuration_size: usize) -> u32 {
    dispatch::on_configure(root_context_id, configuration_size) as u32
}

/// Last look at a finished context (access-log time). Exported by
/// [`http_filter`](crate::http_filter) when the filter implements `on_stream_done`.
pub fn proxy_on_log(context_id: u32) {
    dispatch::on_log(context_id);
}

/// The context is gone; its state is dropped. Exported by
/// [`http_filter`](crate::http_filter) unless the filter is `stateless`.
pub fn proxy_on_delete(context_id: u32) {
    dispatch::on_delete(context_id);
}
