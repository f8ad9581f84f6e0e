//! Contexts: `proxy_set_effective_context`, `proxy_done`.

use super::*;

impl ScopedContextHost for NativeHost {
    fn on_context(&self, context_id: u32, act: &mut dyn FnMut()) -> Option<u32> {
        // Back to the scope before when this drops, even by a panic in `act`.
        let _outer = Entered {
            host: self,
            outer: self.scope.get(),
        };
        let status = self.proxy_set_effective_context(proxy_set_effective_context::Args {
            context_id,
            _call: std::marker::PhantomData,
        });
        if status == OK {
            act();
        }
        Some(status)
    }
}

impl ContextHost for NativeHost {
    fn proxy_done(&self, _call: proxy_done::Args<'_>) -> u32 {
        OK
    }

    fn proxy_set_effective_context(&self, call: proxy_set_effective_context::Args<'_>) -> u32 {
        let running = self
            .current()
            .stream_object()
            .is_some_and(|stream| stream.context_id() == call.context_id);
        if running {
            return OK;
        }
        let contexts = self.contexts.borrow();
        match contexts
            .iter()
            .find(|context| context.id == call.context_id)
        {
            Some(context) => {
                // Boxed: it stays where it is while the list changes (see `scope`).
                self.switch_to_listed(context);
                OK
            }
            None => BAD_ARGUMENT,
        }
    }
}
