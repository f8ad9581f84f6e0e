//! Timers: named, periodic or one-shot, each with its own callback.
//!
//! A plugin sets timers while it is configured, or later from a timer's callback or a
//! queue callback, through [`ConfigureOps`](crate::ConfigureOps) and
//! [`PluginOps`](crate::PluginOps). A callback is a closure or a method of the plugin
//! (`Self::report`), and gets the plugin and the same [`PluginOps`](crate::PluginOps), so
//! it can set or cancel timers in turn.
//!
//! ```
//! use envoy_wasm_sdk::prelude::*;
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! struct Reporter {
//!     seen: Cell<u64>,
//! }
//!
//! impl Reporter {
//!     fn report(&self, _ops: &mut PluginOps<Self>) {
//!         log::info!("{} requests so far", self.seen.get());
//!     }
//! }
//!
//! impl Plugin for Reporter {
//!     type Config = ();
//!     type Filter = Count;
//!
//!     fn configure(_: (), ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
//!         ctx.every("report", Duration::from_secs(10), Self::report)?;
//!         ctx.once("hello", Duration::from_secs(1), |_plugin, _ops| log::info!("up for a second"))?;
//!         Ok(Reporter { seen: Cell::new(0) })
//!     }
//!
//!     fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<Count> {
//!         Some(Count { plugin: self })
//!     }
//! }
//!
//! struct Count {
//!     plugin: Rc<Reporter>,
//! }
//!
//! #[http_filter]
//! impl HttpFilter for Count {
//!     fn on_request_headers(&mut self, _req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
//!         self.plugin.seen.set(self.plugin.seen.get() + 1);
//!         Ok(Action::Continue)
//!     }
//! }
//! # envoy_wasm_sdk::entry!(Reporter);
//! ```
//!
//! # Where timers run
//! Each VM has its own timers. Envoy configures an HTTP filter's plugin in one VM per
//! worker thread and in one on the main thread, so a timer set in `configure` runs in each
//! of them: with `--concurrency 2`, three times per period. Work that must happen once per
//! Envoy belongs in a singleton service (`envoy.bootstrap.wasm` with `singleton: true`, one
//! VM on the main thread), which workers can feed through a
//! [`TypedQueue`](crate::shared::TypedQueue).
//!
//! On the native target (an Envoy dynamic module) a filter's plugin lives on every worker,
//! where Envoy's dynamic-module ABI has no timer; a service (a plugin with
//! [`NoFilter`](crate::service::NoFilter), loaded as Envoy's bootstrap extension) lives on
//! the main thread, on Envoy's timers. So natively only a service has
//! [`every`](crate::ConfigureOps::every) and [`once`](crate::ConfigureOps::once): the bound
//! [`TimerPlugin`](crate::plugin::TimerPlugin) makes a filter's plugin that sets one a compile error there.
//!
//! # How
//! The proxy-wasm ABI 0.2.1 has one timer per plugin (`proxy_set_tick_period_milliseconds`
//! and `proxy_on_tick`). The SDK keeps the timers' deadlines on the host's clock and sets
//! that one tick to the nearest deadline, so timers of different periods do not wake the
//! VM more than they need. A timer is as late as Envoy's event loop makes the tick (a
//! millisecond or so); a periodic timer that missed several periods runs once, then keeps
//! its rhythm. [`TimerId`] names a timer for [`cancel`](crate::PluginOps::cancel), so a future ABI
//! with timer ids of its own can back the same API.
//!
//! A filter can also wait on a timer for its stream: `ops.after(delay, |filter, ops| ..)`
//! on a phase object runs the closure with the filter once `delay` has passed, as a callout
//! response would (resume the stream from it: a delay filter).

use crate::host::{self, HostResult};
use std::fmt;
use std::time::{Duration, SystemTime};

/// Names one timer of a plugin, for [`PluginOps::cancel`](crate::PluginOps::cancel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

struct Entry<C> {
    id: TimerId,
    name: String,
    /// `None` for a one-shot timer.
    every: Option<Duration>,
    /// Deadline on the host's clock, in nanoseconds since the epoch (64 bits last until
    /// the year 2554, and keep 128-bit division out of the module).
    due: u64,
    /// Out while it runs.
    callback: Option<C>,
}

/// A plugin's timers, each running a `C` (one set per plugin context, owned by the
/// runtime; the plugin's ops run them).
pub(crate) struct Timers<C> {
    entries: Vec<Entry<C>>,
    next_id: u64,
    /// The plugin's one ABI tick, which its streams' timers share.
    pub(crate) tick: Tick,
}

impl<C> fmt::Debug for Timers<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|entry| &entry.name))
            .finish()
    }
}

impl<C> Default for Timers<C> {
    fn default() -> Self {
        Timers {
            entries: Vec::new(),
            next_id: 1,
            tick: Tick::default(),
        }
    }
}

/// The host's clock in nanoseconds since the epoch (64 bits last until the year 2554, and
/// keep 128-bit division out of the module).
pub(crate) fn now_nanos() -> HostResult<u64> {
    Ok(host::time::now()?
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, duration_nanos))
}

pub(crate) fn duration_nanos(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(duration.subsec_nanos()))
}

/// A plugin's one ABI tick (`proxy_set_tick_period_milliseconds`), set to the nearest of
/// its timers' and its streams' deadlines.
#[derive(Debug, Default)]
pub(crate) struct Tick {
    plugin_next: Option<u64>,
    pub(crate) streams_next: Option<u64>,
    /// The period last set with the host, in milliseconds (0: none).
    armed_ms: u32,
}

impl Tick {
    /// Sets the host's tick to the nearest deadline (or stops it without one).
    pub(crate) fn arm(&mut self, now: u64) -> HostResult<()> {
        let next = match (self.plugin_next, self.streams_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let period_ms = match next {
            None => 0,
            Some(due) => {
                let wait_ms = due.saturating_sub(now).div_ceil(1_000_000);
                u32::try_from(wait_ms).unwrap_or(u32::MAX).max(1)
            }
        };
        if period_ms != self.armed_ms {
            host::time::set_tick_period(Duration::from_millis(u64::from(period_ms)))?;
            self.armed_ms = period_ms;
        }
        Ok(())
    }
}

impl<C> Timers<C> {
    /// Adds a timer due `delay` after `now`, repeating `every` (`None`: once), and sets
    /// the host's tick for it.
    pub(crate) fn add(
        &mut self,
        now: u64,
        name: &str,
        delay: Duration,
        every: Option<Duration>,
        callback: C,
    ) -> HostResult<TimerId> {
        let id = TimerId(self.next_id);
        self.next_id += 1;
        self.entries.push(Entry {
            id,
            name: name.to_owned(),
            // A zero period would run on every tick, forever: one millisecond is the least.
            every: every.map(|period| period.max(Duration::from_millis(1))),
            due: now.saturating_add(duration_nanos(delay)),
            callback: Some(callback),
        });
        self.rearm(now)?;
        Ok(id)
    }

    /// Stops timer `id`; `false` if it had already run (one-shot) or was cancelled.
    pub(crate) fn cancel(&mut self, now: u64, id: TimerId) -> HostResult<bool> {
        let before = self.entries.len();
        self.entries.retain(|entry| entry.id != id);
        let cancelled = self.entries.len() < before;
        self.rearm(now)?;
        Ok(cancelled)
    }

    /// The earliest timer due at `now`, its callback taken out while it runs.
    pub(crate) fn take_due(&mut self, now: u64) -> Option<(TimerId, C)> {
        let entry = self
            .entries
            .iter_mut()
            .filter(|entry| entry.due <= now && entry.callback.is_some())
            .min_by_key(|entry| entry.due)?;
        Some((entry.id, entry.callback.take()?))
    }

    /// After a run: a periodic timer's next deadline (skipping periods it missed), a
    /// one-shot timer's end. A timer cancelled while it ran stays gone.
    pub(crate) fn put_back(&mut self, id: TimerId, callback: C, now: u64) {
        let Some(at) = self.entries.iter().position(|entry| entry.id == id) else {
            return;
        };
        let entry = &mut self.entries[at];
        match entry.every {
            Some(period) => {
                let period = duration_nanos(period);
                entry.due = entry.due.saturating_add(period);
                if entry.due <= now {
                    entry.due = now.saturating_add(period);
                }
                entry.callback = Some(callback);
            }
            None => {
                self.entries.swap_remove(at);
            }
        }
    }

    /// Sets the host's tick for the nearest deadline.
    pub(crate) fn rearm(&mut self, now: u64) -> HostResult<()> {
        self.tick.plugin_next = self.entries.iter().map(|entry| entry.due).min();
        self.tick.arm(now)
    }
}
