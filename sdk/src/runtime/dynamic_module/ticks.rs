//! Ticks on the native target: `proxy_set_tick_period_milliseconds`, for streams' timers.
//!
//! Envoy's dynamic-module ABI has no timer, but it has a scheduler per stream: any thread
//! may commit an event to it, and Envoy runs the event on the stream's worker
//! (`envoy_dynamic_module_on_http_filter_scheduled`), or drops it once the stream is
//! gone. So one clock thread per process waits for each Envoy thread's next tick and
//! commits it to a stream of that thread, the *carrier*. The carrier is one of the streams
//! that ran a hook while the thread had a tick (the stream that set a timer always did);
//! when it ends, another of them carries on. With none left, nothing waits: a stream's
//! timer only runs while its stream lives, and the next stream to run a hook carries the
//! tick again.
//!
//! Only a stream may start a tick. A plugin's own timers (`every`, `once`) would need a
//! stream to carry them on an idle worker, so a tick asked for outside a stream stays
//! `Unimplemented`; once a tick runs, the plugin may set the next one from it.

use crate::abi::dynamic_module::{FilterEnvoyPtr, SchedulerPtr, callbacks};
use std::cell::{Cell, RefCell};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The event id of a tick (the only event the module commits).
const TICK: u64 = 1;

/// What the clock thread waits for: each carrier's scheduler (as an address) and when to
/// commit a tick to it.
struct Clock {
    wakeups: Mutex<Vec<(usize, Instant)>>,
    changed: Condvar,
}

static CLOCK: OnceLock<Option<&'static Clock>> = OnceLock::new();

/// The clock, started on first use; `None` if its thread could not start.
fn clock() -> Option<&'static Clock> {
    *CLOCK.get_or_init(|| {
        let clock: &'static Clock = Box::leak(Box::new(Clock {
            wakeups: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("envoy-wasm-sdk-clock".into())
            .spawn(move || clock.run())
            .ok()
            .map(|_| clock)
    })
}

impl Clock {
    /// The wake-ups, even if a thread panicked holding them (nothing here panics).
    fn lock(&self) -> MutexGuard<'_, Vec<(usize, Instant)>> {
        self.wakeups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Commits a tick to `scheduler` at `due`, instead of any earlier wake-up of it.
    fn wake(&self, scheduler: SchedulerPtr, due: Instant) {
        let mut wakeups = self.lock();
        wakeups.retain(|(waiting, _)| *waiting != scheduler as usize);
        wakeups.push((scheduler as usize, due));
        self.changed.notify_one();
    }

    /// Forgets `scheduler`'s wake-up. Once this returns, the clock never uses it again.
    fn cancel(&self, scheduler: SchedulerPtr) {
        self.lock()
            .retain(|(waiting, _)| *waiting != scheduler as usize);
    }

    fn run(&self) {
        let mut wakeups = self.lock();
        loop {
            let now = Instant::now();
            wakeups = match wakeups.iter().map(|(_, due)| *due).min() {
                None => self
                    .changed
                    .wait(wakeups)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(due) if due > now => self
                    .changed
                    .wait_timeout(wakeups, due - now)
                    .map_or_else(|poisoned| poisoned.into_inner().0, |(guard, _)| guard),
                Some(_) => {
                    let commit = callbacks().http_filter_scheduler_commit;
                    wakeups.retain(|&(scheduler, due)| {
                        if due > now {
                            return true;
                        }
                        if let Some(commit) = commit {
                            // SAFETY: a scheduler a thread made and has not deleted: it
                            // cancels the wake-up under this lock before deleting it, and
                            // Envoy lets any thread commit.
                            unsafe { commit(scheduler as SchedulerPtr, TICK) };
                        }
                        false
                    });
                    wakeups
                }
            };
        }
    }
}

/// A plugin context's tick.
struct Tick {
    root: u32,
    period: Duration,
    due: Instant,
}

/// One Envoy thread's ticks.
pub(super) struct Ticks {
    ticks: RefCell<Vec<Tick>>,
    /// The stream whose scheduler the clock commits this thread's ticks to.
    carrier: Cell<Option<(FilterEnvoyPtr, SchedulerPtr)>>,
    /// Live streams that ran a hook while a tick was set: each may carry it.
    carriers: RefCell<Vec<FilterEnvoyPtr>>,
    /// A tick is running: the plugin may set the next one without a stream.
    running: Cell<bool>,
}

impl Ticks {
    pub(super) fn new() -> Ticks {
        Ticks {
            ticks: RefCell::new(Vec::new()),
            carrier: Cell::new(None),
            carriers: RefCell::new(Vec::new()),
            running: Cell::new(false),
        }
    }

    /// Sets plugin context `root`'s tick to every `period_ms` (0 stops it), asked for by
    /// stream `asker` (`None`: by the plugin). `false` if this cannot tick: the plugin
    /// asked outside a tick, or the clock could not start.
    pub(super) fn set(&self, root: u32, period_ms: u32, asker: Option<FilterEnvoyPtr>) -> bool {
        if period_ms == 0 {
            self.ticks.borrow_mut().retain(|tick| tick.root != root);
            self.rearm();
            return true;
        }
        if (asker.is_none() && !self.running.get()) || clock().is_none() {
            return false;
        }
        let period = Duration::from_millis(u64::from(period_ms));
        let tick = Tick {
            root,
            period,
            due: Instant::now() + period,
        };
        {
            let mut ticks = self.ticks.borrow_mut();
            match ticks.iter_mut().find(|tick| tick.root == root) {
                Some(known) => *known = tick,
                None => ticks.push(tick),
            }
        }
        if let Some(asker) = asker {
            self.ran_hook(asker);
        }
        self.rearm();
        true
    }

    /// Stream `filter` ran a hook (so Envoy lets it make a scheduler): while a tick is
    /// set, it may carry it.
    #[inline]
    pub(super) fn ran_hook(&self, filter: FilterEnvoyPtr) {
        if !self.ticks.borrow().is_empty() {
            self.may_carry(filter);
        }
    }

    /// [`ran_hook`](Self::ran_hook), while a tick is set.
    #[inline(never)]
    fn may_carry(&self, filter: FilterEnvoyPtr) {
        {
            let mut carriers = self.carriers.borrow_mut();
            if !carriers.contains(&filter) {
                carriers.push(filter);
            }
        }
        if self.carrier.get().is_none() {
            self.rearm();
        }
    }

    /// Whether some stream may carry a tick (the carrier, or one that ran a hook while a
    /// tick was set).
    #[inline]
    pub(super) fn carried(&self) -> bool {
        self.carrier.get().is_some() || self.carriers.try_borrow().map_or(true, |c| !c.is_empty())
    }

    /// Stream `filter` is gone: it carries nothing any more.
    #[inline]
    pub(super) fn stream_gone(&self, filter: FilterEnvoyPtr) {
        if self.carried() {
            self.carries_no_more(filter);
        }
    }

    /// [`stream_gone`](Self::stream_gone), while some stream may carry a tick.
    #[inline(never)]
    fn carries_no_more(&self, filter: FilterEnvoyPtr) {
        self.carriers.borrow_mut().retain(|known| *known != filter);
        if let Some((carrier, scheduler)) = self.carrier.get()
            && carrier == filter
        {
            self.carrier.set(None);
            if let Some(clock) = clock() {
                clock.cancel(scheduler);
            }
            if let Some(delete) = callbacks().http_filter_scheduler_delete {
                // SAFETY: the scheduler this thread made for the stream; the clock no
                // longer holds it (cancelled above), and it is deleted once.
                unsafe { delete(scheduler) };
            }
            self.rearm();
        }
    }

    /// Plugin context `root` is gone: its tick too.
    pub(super) fn root_gone(&self, root: u32) {
        self.ticks.borrow_mut().retain(|tick| tick.root != root);
    }

    /// The plugin contexts whose tick is due, each due again a period later.
    pub(super) fn due(&self) -> Vec<u32> {
        let now = Instant::now();
        self.ticks
            .borrow_mut()
            .iter_mut()
            .filter(|tick| tick.due <= now)
            .map(|tick| {
                tick.due = now + tick.period;
                tick.root
            })
            .collect()
    }

    /// Runs `tick` as a tick, when the plugin may set its next one.
    pub(super) fn running<R>(&self, tick: impl FnOnce() -> R) -> R {
        let outer = self.running.replace(true);
        let result = tick();
        self.running.set(outer);
        result
    }

    /// Has the clock wake this thread at its next tick (through a carrier, made now if
    /// there is none and a stream can carry), or not at all without one.
    pub(super) fn rearm(&self) {
        let Some(clock) = clock() else {
            return;
        };
        let next = self.ticks.borrow().iter().map(|tick| tick.due).min();
        match (next, self.carrier.get()) {
            (None, Some((_, scheduler))) => clock.cancel(scheduler),
            (Some(due), Some((_, scheduler))) => clock.wake(scheduler, due),
            (Some(due), None) => {
                if let Some(scheduler) = self.new_carrier() {
                    clock.wake(scheduler, due);
                }
            }
            (None, None) => {}
        }
    }

    /// A scheduler of one of the streams that may carry the tick.
    fn new_carrier(&self) -> Option<SchedulerPtr> {
        let new = callbacks().http_filter_scheduler_new?;
        let filter = *self.carriers.borrow().first()?;
        // SAFETY: a live stream of this thread (streams leave `carriers` when destroyed)
        // that has run a hook, as Envoy requires for a scheduler; called on its thread.
        let scheduler = unsafe { new(filter) };
        if scheduler.is_null() {
            return None;
        }
        self.carrier.set(Some((filter, scheduler)));
        Some(scheduler)
    }
}
