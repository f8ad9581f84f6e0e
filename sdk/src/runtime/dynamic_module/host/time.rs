//! Time: the wall clock, and tick periods (for streams' timers; see `ticks`).

use super::*;

impl TimeHost for NativeHost {
    fn proxy_get_current_time_nanoseconds(
        &self,
        call: proxy_get_current_time_nanoseconds::Args<'_>,
    ) -> u32 {
        *call.return_time = now_nanos();
        OK
    }

    fn proxy_set_tick_period_milliseconds(
        &self,
        call: proxy_set_tick_period_milliseconds::Args<'_>,
    ) -> u32 {
        let Some(root) = self.root_of(self.scope.get()) else {
            return NOT_FOUND;
        };
        if self.ticks.set(root, call.period, self.filter()) {
            OK
        } else {
            UNIMPLEMENTED
        }
    }
}
