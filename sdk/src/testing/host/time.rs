//! The clock and the timer: `proxy_get_current_time_nanoseconds`, `proxy_set_tick_period_milliseconds`.

use super::*;

impl TimeHost for EmulatorHost {
    fn proxy_get_current_time_nanoseconds(
        &self,
        call: proxy_get_current_time_nanoseconds::Args<'_>,
    ) -> u32 {
        *call.return_time = self.state.borrow().now_nanos;
        OK
    }

    fn proxy_set_tick_period_milliseconds(
        &self,
        call: proxy_set_tick_period_milliseconds::Args<'_>,
    ) -> u32 {
        let mut state = self.state.borrow_mut();
        // As in Envoy, the tick belongs to the plugin, whichever of its streams sets it.
        let context = state.root_of(state.effective_context);
        if call.period == 0 {
            state.tick_periods.remove(&context);
        } else {
            let now = state.now_nanos;
            state.tick_periods.insert(context, (call.period, now));
        }
        OK
    }
}
