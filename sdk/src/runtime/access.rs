//! Reaching a context: a stream's or connection's binding, the filter in its slot (made at
//! its first callback), the plugin it is bound to; user code run guarded, and a callback's
//! error answered.

use crate::abi::{Action, StreamType};
use crate::error::Error;
use crate::headers::HeaderError;
use crate::host;
use crate::reply::LocalReply;
use crate::runtime::contexts::{Binding, Made, RootContext, Slot, StreamContext};
use crate::runtime::logger;
use crate::runtime::state::{self, Dispatcher};
use std::fmt;
use std::rc::Rc;

/// Runs user code. Off wasm, a panic must not cross the `extern "C"` exports (that aborts
/// the whole test process): it is caught here and kept for the in-process host to re-raise.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn guarded<R: Default>(user_code: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(user_code)) {
        Ok(result) => result,
        Err(payload) => {
            GUEST_PANIC.with(|slot| *slot.borrow_mut() = Some(payload));
            PANICKED.store(true, std::sync::atomic::Ordering::Relaxed);
            R::default()
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn guarded<R>(user_code: impl FnOnce() -> R) -> R {
    user_code()
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static GUEST_PANIC: std::cell::RefCell<Option<Box<dyn std::any::Any + Send>>> = const { std::cell::RefCell::new(None) };
}

/// The panic the last guest callback raised, if any (off wasm).
#[cfg(all(
    any(feature = "testing", feature = "dynamic-module"),
    not(target_arch = "wasm32")
))]
pub(crate) fn take_guest_panic() -> Option<Box<dyn std::any::Any + Send>> {
    // A process-wide flag first: no thread-local lookup after every hook while nothing has
    // panicked (a thread's flag would cost the lookup it saves).
    if !PANICKED.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    GUEST_PANIC.with(|slot| slot.borrow_mut().take())
}

/// Whether any thread's guest code has panicked: once set, [`take_guest_panic`] looks.
#[cfg(not(target_arch = "wasm32"))]
static PANICKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn bind(d: &mut Dispatcher, context_id: u32, root: u32, log_prefix: bool) {
    let binding = Binding::new(context_id, root, log_prefix);
    // A context id Envoy reuses replaces what it was bound to.
    match d.binding(context_id) {
        Some(old) => *old = binding,
        None => d.contexts.push(binding),
    }
}

/// A context Envoy did not announce (a host that never calls `proxy_on_context_create`):
/// bound to the VM's only plugin, if it has exactly one.
fn bind_to_only_root(d: &mut Dispatcher, context_id: u32) -> bool {
    let [only] = d.roots.as_slice() else {
        return false;
    };
    let (root, prefix) = (only.context_id, only.root.log_request_id());
    bind(d, context_id, root, prefix);
    true
}

/// What a stream's callback takes from its binding's slot.
enum Taken {
    /// Its own filter, taken out (the slot is busy until it is put back).
    Own(Box<dyn StreamContext>),
    /// The plugin's stateless filter serves it.
    Stateless,
    /// Its filter is to be made (the slot is busy meanwhile).
    Make,
    Nothing,
}

impl Binding {
    /// Takes the stream's filter out of the slot (or says how to reach it).
    fn take_stream(&mut self) -> Taken {
        match self.slot {
            // The common case first, and left in place: nothing to take out or put back.
            Slot::Stateless => Taken::Stateless,
            Slot::Stream(_) => match std::mem::replace(&mut self.slot, Slot::Busy) {
                Slot::Stream(filter) => Taken::Own(filter),
                _ => Taken::Nothing,
            },
            Slot::Unmade => {
                self.slot = Slot::Busy;
                Taken::Make
            }
            _ => Taken::Nothing,
        }
    }
}

/// The binding of context `context_id`; one Envoy did not announce is bound to the VM's
/// only plugin, if it has exactly one.
pub(crate) fn binding(d: &mut Dispatcher, context_id: u32) -> Option<&mut Binding> {
    match d.contexts.iter().position(|b| b.context_id == context_id) {
        Some(at) => d.contexts.get_mut(at),
        None if bind_to_only_root(d, context_id) => d.binding(context_id),
        None => None,
    }
}

/// Sets stream `context_id`'s slot; hands back what it held if the stream is gone.
fn put_back(context_id: u32, slot: Slot) -> Option<Slot> {
    state::with(|d| match d.binding(context_id) {
        Some(binding) => {
            binding.slot = slot;
            None
        }
        None => Some(slot),
    })
}

/// Runs `call` on stream `context_id`'s filter, made at its first callback by the plugin
/// the stream is bound to; `None` if it has none (declined, busy, or not an HTTP stream).
pub(crate) fn with_stream<R>(
    context_id: u32,
    call: impl FnOnce(&mut dyn StreamContext) -> R,
) -> Option<R> {
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    if let Some(stream) = state::elsewhere(context_id) {
        return with_bound(stream.bound()?, context_id, call);
    }
    let (taken, root) = state::with(|d| {
        let Some(binding) = binding(d, context_id) else {
            return (Taken::Nothing, None);
        };
        let (taken, root) = (binding.take_stream(), binding.root);
        let root = matches!(taken, Taken::Stateless | Taken::Make)
            .then(|| d.root(root))
            .flatten();
        (taken, root)
    });
    let put_back = |slot| put_back(context_id, slot);
    run_taken(
        taken,
        root.as_deref(),
        context_id,
        call,
        put_back,
        Mark::Logger,
    )
}

/// Runs `call` on the filter of stream `context_id`, bound elsewhere by `bound` (see
/// [`state::Bound`]), as [`with_stream`] does for a stream of the dispatcher's list.
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) fn with_bound<R>(
    bound: &state::Bound,
    context_id: u32,
    call: impl FnOnce(&mut dyn StreamContext) -> R,
) -> Option<R> {
    with_binding(&bound.binding, bound.root(), context_id, call)
}

/// [`with_bound`], with the binding and its plugin context apart.
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) fn with_binding<R>(
    binding: &std::cell::RefCell<Binding>,
    root: &dyn RootContext,
    context_id: u32,
    call: impl FnOnce(&mut dyn StreamContext) -> R,
) -> Option<R> {
    // Busy if a callback of the stream re-entered the guest: nothing runs then.
    let taken = binding
        .try_borrow_mut()
        .map_or(Taken::Nothing, |mut binding| binding.take_stream());
    run_taken(
        taken,
        Some(root),
        context_id,
        call,
        |slot| match binding.try_borrow_mut() {
            Ok(mut binding) => {
                let old = std::mem::replace(&mut binding.slot, slot);
                // Busy while the filter ran: nothing to drop (the common case, without
                // the call a drop costs).
                if matches!(old, Slot::Busy) {
                    std::mem::forget(old);
                    None
                } else {
                    Some(old)
                }
            }
            Err(_) => Some(slot),
        },
        Mark::Host,
    )
}

/// How a stream's log lines learn which stream is running.
#[derive(Clone, Copy)]
enum Mark {
    /// The logger is told ([`logger::for_stream`]).
    Logger,
    /// The host knows: its scope is the stream's (a stream bound elsewhere).
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    Host,
}

impl Mark {
    fn run<R>(self, context_id: u32, code: impl FnOnce() -> R) -> R {
        match self {
            Mark::Logger => logger::for_stream(context_id, code),
            #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
            Mark::Host => code(),
        }
    }
}

/// Runs `call` on the filter `taken` from stream `context_id`'s slot, `root` the plugin
/// context it is bound to; `put_back` sets the slot after (and hands back what it held if
/// the stream is gone).
fn run_taken<R>(
    taken: Taken,
    root: Option<&dyn RootContext>,
    context_id: u32,
    call: impl FnOnce(&mut dyn StreamContext) -> R,
    put_back: impl Fn(Slot) -> Option<Slot>,
    mark: Mark,
) -> Option<R> {
    let mut filter = match (taken, root) {
        (Taken::Own(filter), _) => filter,
        (Taken::Stateless, Some(root)) => return run_stateless(root, context_id, call, mark),
        (Taken::Make, Some(root)) => match root.create_stream(context_id) {
            Made::Filter(filter) => filter,
            Made::Stateless => {
                drop(put_back(Slot::Stateless));
                return run_stateless(root, context_id, call, mark);
            }
            Made::Declined | Made::Unavailable => {
                drop(put_back(Slot::Declined));
                return None;
            }
        },
        _ => return None,
    };
    let result = mark.run(context_id, || call(&mut *filter));
    // Dropped after the dispatcher is released if the stream went meanwhile: a filter's
    // `Drop` is user code.
    drop(put_back(Slot::Stream(filter)));
    Some(result)
}

fn run_stateless<R>(
    root: &dyn RootContext,
    context_id: u32,
    call: impl FnOnce(&mut dyn StreamContext) -> R,
    mark: Mark,
) -> Option<R> {
    let mut filter = root.stateless()?;
    Some(mark.run(context_id, || call(&mut *filter)))
}

/// The plugin context stream or connection `context_id` is bound to.
pub(crate) fn bound_root(context_id: u32) -> Option<(u32, Rc<dyn RootContext>)> {
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    if let Some(stream) = state::elsewhere(context_id) {
        let bound = stream.bound()?;
        let root = bound.binding.try_borrow().ok()?.root;
        return Some((root, bound.shared_root().clone()));
    }
    state::with(|d| {
        let root = d.binding(context_id)?.root;
        Some((root, d.root(root)?))
    })
}

/// Turns a callback's `Err` into a local reply; if even that fails, resets the stream.
pub(crate) fn answer_error(
    callback: &dyn fmt::Display,
    error: Error,
    direction: StreamType,
) -> Action {
    log::error!(
        "{callback} failed: {error} (answering {})",
        error.status_code()
    );
    let sent = match error.reply().send() {
        // The filter's reply carried a header that could split the response: a plain 500
        // goes instead, without it.
        Err(HeaderError::Invalid(invalid)) => {
            log::error!("{callback}: its local reply was refused ({invalid}); answering 500");
            LocalReply::new(500).send()
        }
        other => other,
    };
    if let Err(send_error) = sent {
        log::error!("{callback}: cannot send the local reply ({send_error}); resetting the stream");
        let _ = host::stream::close(direction);
    }
    Action::Pause
}
