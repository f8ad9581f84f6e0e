//! Clocks and timers.

hostcalls! {
    /// Host side of clocks and timers.
    trait TimeHost;
    /// Writes the current time in nanoseconds since the Unix epoch.
    fn proxy_get_current_time_nanoseconds(return_time: &mut u64);
    /// Calls `proxy_on_tick` of the active plugin context every `period` ms; 0 stops it.
    fn proxy_set_tick_period_milliseconds(period: u32);
}
