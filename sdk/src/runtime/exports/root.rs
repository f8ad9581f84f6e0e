//! Plugin-context events: timers, queues, foreign functions.

use crate::runtime::dispatch;

/// The tick period set with `proxy_set_tick_period_milliseconds` elapsed.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_tick(root_context_id: u32) {
    crate::host::context::entered(root_context_id, || {
        dispatch::on_tick(root_context_id);
    })
}

/// An item was enqueued on a queue this plugin registered.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_queue_ready(root_context_id: u32, queue_id: u32) {
    crate::host::context::entered(root_context_id, || {
        dispatch::on_queue_ready(root_context_id, queue_id);
    })
}

/// The host called back a function it exposes to this plugin.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_foreign_function(
    root_context_id: u32,
    function_id: u32,
    arguments_size: usize,
) {
    crate::host::context::entered(root_context_id, || {
        dispatch::on_foreign_function(root_context_id, function_id, arguments_size);
    })
}
