//! The clock and the timer: `proxy_get_current_time_nanoseconds`, `proxy_set_tick_period_milliseconds`.

use super::*;

impl TimeHost for EmulatorHost {
    unsafe fn proxy_get_current_time_nanoseconds(&self, return_time: *mut u64) -> u32 {
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_time = self.state.borrow().now_nanos };
        OK
    }

    unsafe fn proxy_set_tick_period_milliseconds(&self, period: u32) -> u32 {
        let mut state = self.state.borrow_mut();
        let context = state.effective_context;
        if period == 0 {
            state.tick_periods.remove(&context);
        } else {
            state.tick_periods.insert(context, period);
        }
        OK
    }
}
