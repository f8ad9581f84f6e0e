//! Contexts: `proxy_set_effective_context`, `proxy_done`.

use super::*;

impl ScopedContextHost for EmulatorHost {}

impl ContextHost for EmulatorHost {
    fn proxy_done(&self, _: proxy_done::Args<'_>) -> u32 {
        // The SDK defers no work, so it never has anything to report done.
        OK
    }

    fn proxy_set_effective_context(&self, call: proxy_set_effective_context::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        let context_id = call.context_id;
        let known = state.streams.contains_key(&context_id)
            || state.connections.contains_key(&context_id)
            || state.roots.contains(&context_id);
        if !known {
            return BAD_ARGUMENT;
        }
        state.effective_context = context_id;
        OK
    }
}
