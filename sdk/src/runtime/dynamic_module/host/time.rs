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
        if let Some(plugin) = self.service() {
            return self.set_service_tick(plugin, call.period);
        }
        let Some(root) = self.root_of(self.current()) else {
            return NOT_FOUND;
        };
        if self.ticks.set(root, call.period, self.filter()) {
            OK
        } else {
            UNIMPLEMENTED
        }
    }
}

impl NativeHost {
    /// Sets service `plugin`'s tick period (0 stops it) on its Envoy timer, made at first
    /// use (main thread, where a service runs).
    fn set_service_tick(&self, plugin: &'static PluginConfig, period: u32) -> u32 {
        let mut timers = self.service_timers.borrow_mut();
        let at = match timers.iter().position(|(id, _, _)| *id == plugin.id) {
            Some(at) => at,
            None => match envoy!(bootstrap_extension_timer_new(plugin.envoy)) {
                Some(timer) if !timer.is_null() => {
                    timers.push((plugin.id, timer, 0));
                    timers.len() - 1
                }
                _ => return UNIMPLEMENTED,
            },
        };
        timers[at].2 = period;
        let timer = timers[at].1;
        drop(timers);
        let done = if period == 0 {
            envoy!(bootstrap_extension_timer_disable(timer))
        } else {
            envoy!(bootstrap_extension_timer_enable(timer, u64::from(period)))
        };
        if done.is_some() { OK } else { UNIMPLEMENTED }
    }

    /// Arms service `plugin`'s `timer` again after it fired, for the period set last.
    pub(in crate::runtime::dynamic_module) fn rearm_service_timer(
        &self,
        plugin: &'static PluginConfig,
        timer: BootstrapTimerPtr,
    ) {
        let period = self
            .service_timers
            .borrow()
            .iter()
            .find(|(id, known, _)| *id == plugin.id && *known == timer)
            .map_or(0, |(_, _, period)| *period);
        if period > 0 {
            envoy!(bootstrap_extension_timer_enable(timer, u64::from(period)));
        }
    }
}
