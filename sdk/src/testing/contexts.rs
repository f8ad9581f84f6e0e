//! Calls into the guest as Envoy makes them (context ids, the effective context, a failed
//! VM), and the state the host keeps for each stream and connection.

use super::Emulator;
use super::host::{ConnectionState, StreamState};
use crate::abi::LogLevel;

impl Emulator {
    pub(crate) fn guest_exports(&self, name: &str) -> bool {
        self.guest.exports(name)
    }

    /// Ends a stream's or connection's context as Envoy does: `proxy_on_log`, then
    /// `proxy_on_delete`, each if the module exports it.
    pub(crate) fn end_context(&self, id: u32) {
        for export in ["proxy_on_log", "proxy_on_delete"] {
            if self.guest_exports(export) {
                self.call_into(id, export, &[u64::from(id)]);
            }
        }
    }

    pub(super) fn new_context_id(&self) -> u32 {
        let id = self.next_context.get();
        self.next_context.set(id + 1);
        id
    }

    /// Calls export `name` of context `context_id` as Envoy would, then delivers the queue
    /// notifications it caused. A failed VM is not called (the result is 0).
    pub(crate) fn call_into(&self, context_id: u32, name: &str, args: &[u64]) -> u32 {
        let result = self.invoke(context_id, name, args);
        self.deliver_ready_queues();
        result
    }

    pub(super) fn invoke(&self, context_id: u32, name: &str, args: &[u64]) -> u32 {
        if self.vm_failure.borrow().is_some() {
            return 0;
        }
        // As Envoy: the callback's own context is effective while it runs, and the one
        // before after it (a host call may run another context's callback).
        let outer = std::mem::replace(
            &mut self.host.state.borrow_mut().effective_context,
            context_id,
        );
        let result = self.guest.call(name, args);
        self.host.state.borrow_mut().effective_context = outer;
        if let Some(panic) = crate::runtime::seam::take_guest_panic() {
            // The filter panicked (in Envoy: a trapped VM). Re-raised here, on the Rust side.
            std::panic::resume_unwind(panic);
        }
        result.unwrap_or_else(|trap| {
            let failure = format!("Function: {name} failed: {trap}");
            self.host.log_line(LogLevel::Error, failure.clone());
            *self.vm_failure.borrow_mut() = Some(failure);
            0
        })
    }

    pub(crate) fn host_effective(&self, context_id: u32) {
        self.host.state.borrow_mut().effective_context = context_id;
    }

    pub(crate) fn with_stream<R>(&self, id: u32, f: impl FnOnce(&mut StreamState) -> R) -> R {
        let mut state = self.host.state.borrow_mut();
        let now = state.now_nanos;
        f(state.streams.entry(id).or_insert_with(|| StreamState {
            started_nanos: now,
            ..StreamState::default()
        }))
    }

    pub(crate) fn forget_stream(&self, id: u32) {
        let mut state = self.host.state.borrow_mut();
        state.streams.remove(&id);
        state.stream_roots.remove(&id);
    }

    /// Announces context `id` under plugin context `parent` (0 for a plugin context), as
    /// Envoy does with a module that exports `proxy_on_context_create`.
    pub(super) fn create_context(&self, id: u32, parent: u32) {
        if self.guest_exports("proxy_on_context_create") {
            self.call_into(
                id,
                "proxy_on_context_create",
                &[u64::from(id), u64::from(parent)],
            );
        }
    }

    pub(crate) fn with_connection<R>(
        &self,
        id: u32,
        f: impl FnOnce(&mut ConnectionState) -> R,
    ) -> R {
        let mut state = self.host.state.borrow_mut();
        f(state.connections.entry(id).or_default())
    }
}
