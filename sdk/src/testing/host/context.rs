//! Contexts: `proxy_set_effective_context`, `proxy_done`.

use super::*;

impl ContextHost for EmulatorHost {
    unsafe fn proxy_done(&self) -> u32 {
        // The SDK defers no work, so it never has anything to report done.
        OK
    }

    unsafe fn proxy_set_effective_context(&self, context_id: u32) -> u32 {
        let mut state = self.state.borrow_mut();
        if !state.streams.contains_key(&context_id) && !state.roots.contains(&context_id) {
            return BAD_ARGUMENT;
        }
        state.effective_context = context_id;
        OK
    }
}
