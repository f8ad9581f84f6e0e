//! Context switching.
//!
//! A host call acts on the context whose callback runs, or on the one
//! [`set_effective_context`] switched to for the rest of that callback (Envoy goes back to
//! the callback's own context when it returns).

use super::{HostError, HostResult, check};
use crate::abi::imports::safe as abi;
use std::cell::Cell;

thread_local! {
    /// The context host calls act on, as far as this guest knows (0: none): the one whose
    /// callback runs ([`entered`]), or the one it switched to.
    static EFFECTIVE: Cell<u32> = const { Cell::new(0) };
}

/// Makes later host calls act on `context_id` (needed outside that context's callbacks).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn set_effective_context(context_id: u32) -> HostResult<()> {
    check(
        "proxy_set_effective_context",
        abi::proxy_set_effective_context(context_id),
    )?;
    EFFECTIVE.with(|effective| effective.set(context_id));
    Ok(())
}

/// Runs `callback`, code of context `context_id` that the host called: Envoy makes the
/// context effective for it, and the one before effective again after it (a host call may
/// run another context's callback before it returns).
pub(crate) fn entered<R>(context_id: u32, callback: impl FnOnce() -> R) -> R {
    let outer = EFFECTIVE.with(|effective| effective.replace(context_id));
    let result = callback();
    EFFECTIVE.with(|effective| effective.set(outer));
    result
}

/// Runs `act` on context `context_id`, then makes the context effective before it
/// effective again: what its caller calls after acts on the caller's own context still.
///
/// # Errors
/// Fails with the host's status when Envoy refuses either switch, or with `act`'s error.
#[cfg(target_arch = "wasm32")]
pub(crate) fn on_context<R, E: From<HostError>>(
    context_id: u32,
    act: impl FnOnce() -> Result<R, E>,
) -> Result<R, E> {
    by_id(context_id, act)
}

/// Runs `act` on context `context_id`, then makes the context effective before it
/// effective again: what its caller calls after acts on the caller's own context still.
/// The host may switch back by itself (the native target's own streams have no id to
/// switch back by); else it is switched back by id.
///
/// # Errors
/// Fails with the host's status when Envoy refuses either switch, or with `act`'s error.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn on_context<R, E: From<HostError>>(
    context_id: u32,
    act: impl FnOnce() -> Result<R, E>,
) -> Result<R, E> {
    let mut act = Some(act);
    let mut acted = None;
    if let Some(status) = crate::abi::imports::on_context(context_id, &mut || {
        acted = act.take().map(|act| act());
    }) {
        check("proxy_set_effective_context", status)?;
    }
    match (act.take(), acted) {
        (Some(act), _) => by_id(context_id, act),
        (None, Some(acted)) => acted,
        // `act` is taken only to run it.
        (None, None) => Err(HostError {
            call: "proxy_set_effective_context",
            status: crate::abi::Status::InternalFailure,
        }
        .into()),
    }
}

/// [`on_context`] by two switches, as a Wasm guest makes them.
fn by_id<R, E: From<HostError>>(
    context_id: u32,
    act: impl FnOnce() -> Result<R, E>,
) -> Result<R, E> {
    let home = EFFECTIVE.with(Cell::get);
    set_effective_context(context_id)?;
    let acted = act();
    if home == 0 || home == context_id {
        return acted;
    }
    let back = set_effective_context(home);
    let acted = acted?;
    back?;
    Ok(acted)
}

/// Tells the host a context that returned "not done" from `proxy_on_done` is done.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn done() -> HostResult<()> {
    check("proxy_done", abi::proxy_done())
}
