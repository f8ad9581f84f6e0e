//! The environment the filter runs in: the properties Envoy reports, and the clock with
//! its ticks.

use super::{Emulator, PluginId};
use std::time::{Duration, SystemTime};

impl Emulator {
    /// Sets the property at `path` (`["source", "address"]`), as Envoy would report it.
    /// `request.*` and `response.*` values come from the stream itself.
    pub fn set_property(&self, path: &[&str], value: impl Into<Vec<u8>>) {
        self.host
            .state
            .borrow_mut()
            .properties
            .insert(path.join("\0").into_bytes(), value.into());
    }

    /// The paths of every property the filter read, dotted (`request.path`).
    pub fn properties_read(&self) -> Vec<String> {
        self.host.state.borrow().properties_read.clone()
    }

    /// The emulated clock.
    pub fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.host.state.borrow().now_nanos)
    }

    /// Moves the clock forward, calling `proxy_on_tick` for every tick period that elapses.
    /// As in Envoy, a tick comes one period after the later of the last tick and the
    /// moment the period was set (a plugin that changes its period starts a new timer).
    pub fn advance(&self, by: Duration) {
        let target = self.host.state.borrow().now_nanos + by.as_nanos() as u64;
        loop {
            let due = {
                let state = self.host.state.borrow();
                let last = self.last_tick.borrow();
                state
                    .tick_periods
                    .iter()
                    .map(|(root, (period, set_at))| {
                        let from = last.get(root).copied().unwrap_or(0).max(*set_at);
                        (*root, from + u64::from(*period) * 1_000_000)
                    })
                    .filter(|(_, at)| *at <= target)
                    .min_by_key(|(root, at)| (*at, *root))
            };
            let Some((root, at)) = due else {
                break;
            };
            self.last_tick.borrow_mut().insert(root, at);
            self.host.state.borrow_mut().now_nanos = at;
            self.call_into(root, "proxy_on_tick", &[u64::from(root)]);
        }
        self.host.state.borrow_mut().now_nanos = target;
    }

    /// The shortest tick period any plugin asked for.
    pub(crate) fn shortest_tick_period(&self) -> Option<Duration> {
        let state = self.host.state.borrow();
        let shortest = state
            .tick_periods
            .values()
            .map(|(ms, _)| *ms)
            .filter(|ms| *ms > 0)
            .min()?;
        Some(Duration::from_millis(u64::from(shortest)))
    }

    /// The tick period the plugin asked for, if any.
    pub fn tick_period(&self, plugin: PluginId) -> Option<Duration> {
        let periods = &self.host.state.borrow().tick_periods;
        periods
            .get(&plugin.0)
            .map(|(ms, _)| Duration::from_millis(u64::from(*ms)))
    }
}
