//! Timers: named, periodic or one-shot, each with its own callback.
//!
//! A plugin sets timers while it is configured, or later from a timer's callback or a
//! queue callback, through [`ConfigureOps`](crate::ConfigureOps) and [`PluginOps`]. A callback is a closure or a
//! method of the plugin (`Self::report`), and gets the plugin and the same
//! [`PluginOps`], so it can set or cancel timers in turn.
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
//!     fn create_filter(self: Rc<Self>) -> Count {
//!         Count { plugin: self }
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
//! # How
//! The proxy-wasm ABI 0.2.1 has one timer per plugin (`proxy_set_tick_period_milliseconds`
//! and `proxy_on_tick`). The SDK keeps the timers' deadlines on the host's clock and sets
//! that one tick to the nearest deadline, so timers of different periods do not wake the
//! VM more than they need. A timer is as late as Envoy's event loop makes the tick (a
//! millisecond or so); a periodic timer that missed several periods runs once, then keeps
//! its rhythm. [`TimerId`] names a timer for [`cancel`](PluginOps::cancel), so a future ABI
//! with timer ids of its own can back the same API.
//!
//! A filter can also wait on a timer for its stream: `ops.after(delay, |filter, ops| ..)`
//! on a phase object runs the closure with the filter once `delay` has passed, as a callout
//! response would (resume the stream from it: a delay filter).

use crate::host::{self, HostResult};
use crate::plugin::{PluginOps, PluginServices};
use std::cell::RefCell;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Names one timer of a plugin, for [`PluginOps::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

/// What a timer runs: a closure, or a method of the plugin.
type Callback<P> = Box<dyn FnMut(&P, &mut PluginOps<'_, P>)>;

struct Entry<P> {
    id: TimerId,
    name: String,
    /// `None` for a one-shot timer.
    every: Option<Duration>,
    /// Deadline on the host's clock, in nanoseconds since the epoch (64 bits last until
    /// the year 2554, and keep 128-bit division out of the module).
    due: u64,
    /// Out while it runs.
    callback: Option<Callback<P>>,
}

/// Runs a plugin's due timers: its services (the set among them), the plugin, its context
/// id.
type Runner<P> = fn(&PluginServices<P>, &P, u32);

/// A plugin's timers (one set per plugin context, owned by the runtime).
pub struct Timers<P> {
    entries: Vec<Entry<P>>,
    next_id: u64,
    /// Runs the due timers: installed by the first timer, so a module that sets none links
    /// none of the code.
    runner: Option<Runner<P>>,
    /// The plugin's one ABI tick, which its streams' timers share.
    pub(crate) tick: Tick,
}

impl<P> fmt::Debug for Timers<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|entry| &entry.name))
            .finish()
    }
}

impl<P> Default for Timers<P> {
    fn default() -> Self {
        Timers {
            entries: Vec::new(),
            next_id: 1,
            runner: None,
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

impl<P: 'static> Timers<P> {
    /// Adds a timer due `delay` from now, repeating `every` (`None`: once), and sets the
    /// host's tick for it.
    pub(crate) fn add(
        cell: &RefCell<Timers<P>>,
        name: &str,
        delay: Duration,
        every: Option<Duration>,
        callback: Callback<P>,
    ) -> HostResult<TimerId> {
        let now = now_nanos()?;
        let mut timers = cell.borrow_mut();
        let id = TimerId(timers.next_id);
        timers.next_id += 1;
        timers.entries.push(Entry {
            id,
            name: name.to_owned(),
            // A zero period would run on every tick, forever: one millisecond is the least.
            every: every.map(|period| period.max(Duration::from_millis(1))),
            due: now.saturating_add(duration_nanos(delay)),
            callback: Some(callback),
        });
        timers.runner = Some(Self::fire);
        timers.rearm(now)?;
        Ok(id)
    }

    /// Stops timer `id`; `false` if it had already run (one-shot) or was cancelled.
    pub(crate) fn cancel(cell: &RefCell<Timers<P>>, id: TimerId) -> HostResult<bool> {
        let now = now_nanos()?;
        let mut timers = cell.borrow_mut();
        let before = timers.entries.len();
        timers.entries.retain(|entry| entry.id != id);
        let cancelled = timers.entries.len() < before;
        timers.rearm(now)?;
        Ok(cancelled)
    }

    /// The host's tick: runs every due timer, if the plugin has any.
    pub(crate) fn run_due(services: &PluginServices<P>, plugin: &P, root_context_id: u32) {
        let runner = services.timers.borrow().runner;
        if let Some(run) = runner {
            run(services, plugin, root_context_id);
        }
    }

    /// Runs every timer that is due, each with `plugin`, then sets the tick for the next
    /// deadline. The set is not borrowed while a callback runs, so callbacks may add and
    /// cancel timers.
    fn fire(services: &PluginServices<P>, plugin: &P, root_context_id: u32) {
        let cell = &services.timers;
        let Ok(now) = now_nanos() else {
            return;
        };
        loop {
            // Its own statement: the set must not stay borrowed while the callback runs.
            let due = cell.borrow_mut().take_due(now);
            let Some((id, mut callback)) = due else {
                break;
            };
            callback(plugin, &mut PluginOps::new(root_context_id, services));
            cell.borrow_mut().put_back(id, callback, now);
        }
        if let Err(error) = cell.borrow_mut().rearm(now) {
            log::error!("cannot set the timers' tick: {error}");
        }
    }

    fn take_due(&mut self, now: u64) -> Option<(TimerId, Callback<P>)> {
        let entry = self
            .entries
            .iter_mut()
            .filter(|entry| entry.due <= now && entry.callback.is_some())
            .min_by_key(|entry| entry.due)?;
        Some((entry.id, entry.callback.take()?))
    }

    /// After a run: a periodic timer's next deadline (skipping periods it missed), a
    /// one-shot timer's end. A timer cancelled while it ran stays gone.
    fn put_back(&mut self, id: TimerId, callback: Callback<P>, now: u64) {
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

    fn rearm(&mut self, now: u64) -> HostResult<()> {
        self.tick.plugin_next = self.entries.iter().map(|entry| entry.due).min();
        self.tick.arm(now)
    }
}

/// Timer operations, shared by [`ConfigureOps`] and [`PluginOps`].
macro_rules! timer_ops {
    ($ops:ident) => {
        impl<P: crate::Plugin> $ops<'_, P> {
            /// Runs `callback` every `period` (at least a millisecond) from now on, in this
            /// VM (see [where timers run](crate::timer#where-timers-run)).
            ///
            /// # Errors
            /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy
            /// refuses to set the tick.
            #[cfg_attr(all(feature = "dynamic-module", not(target_arch = "wasm32")), deprecated(note = "the native target (Envoy dynamic modules) has no plugin timers: this fails with `Unimplemented`; see the README, \"Native target\""))]
            pub fn every(
                &mut self,
                name: &str,
                period: std::time::Duration,
                callback: impl FnMut(&P, &mut PluginOps<'_, P>) + 'static,
            ) -> crate::HostResult<crate::timer::TimerId> {
                crate::timer::Timers::add(
                    &self.services.timers,
                    name,
                    period,
                    Some(period),
                    Box::new(callback),
                )
            }

            /// Runs `callback` once, `delay` from now.
            ///
            /// # Errors
            /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy
            /// refuses to set the tick.
            #[cfg_attr(all(feature = "dynamic-module", not(target_arch = "wasm32")), deprecated(note = "the native target (Envoy dynamic modules) has no plugin timers: this fails with `Unimplemented`; see the README, \"Native target\""))]
            pub fn once(
                &mut self,
                name: &str,
                delay: std::time::Duration,
                callback: impl FnOnce(&P, &mut PluginOps<'_, P>) + 'static,
            ) -> crate::HostResult<crate::timer::TimerId> {
                let mut callback = Some(callback);
                let run = move |plugin: &P, ops: &mut PluginOps<'_, P>| {
                    if let Some(callback) = callback.take() {
                        callback(plugin, ops);
                    }
                };
                crate::timer::Timers::add(&self.services.timers, name, delay, None, Box::new(run))
            }

            /// Stops timer `id`; `Ok(false)` if it had already run or was cancelled.
            ///
            /// # Errors
            /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy
            /// refuses to change the tick.
            pub fn cancel(&mut self, id: crate::timer::TimerId) -> crate::HostResult<bool> {
                crate::timer::Timers::cancel(&self.services.timers, id)
            }
        }
    };
}
pub(crate) use timer_ops;
