//! The in-process host seam used off wasm: a [`Host`] per thread.
//!
//! Each test thread installs its own host, so tests run in parallel without sharing state.

use super::imports::{
    BufferHost, ContextHost, ForeignHost, GrpcHost, HeaderHost, HttpCallHost, LogHost, MetricsHost,
    PropertyHost, SharedDataHost, SharedQueueHost, StreamHost, TimeHost,
};
use std::cell::RefCell;
use std::rc::Rc;

/// Every host function of the ABI; implement the area traits to provide one.
pub trait Host:
    BufferHost
    + ContextHost
    + ForeignHost
    + GrpcHost
    + HeaderHost
    + HttpCallHost
    + LogHost
    + MetricsHost
    + PropertyHost
    + SharedDataHost
    + SharedQueueHost
    + StreamHost
    + TimeHost
{
}

impl<T> Host for T where
    T: BufferHost
        + ContextHost
        + ForeignHost
        + GrpcHost
        + HeaderHost
        + HttpCallHost
        + LogHost
        + MetricsHost
        + PropertyHost
        + SharedDataHost
        + SharedQueueHost
        + StreamHost
        + TimeHost
{
}

thread_local! {
    static HOST: RefCell<Option<Rc<dyn Host>>> = const { RefCell::new(None) };
}

/// Installs `host` for the current thread and returns the one it replaces.
pub fn install_host(host: Option<Rc<dyn Host>>) -> Option<Rc<dyn Host>> {
    HOST.with(|slot| slot.replace(host))
}

/// Runs `call` on the current thread's host, or returns `Unimplemented` without one.
///
/// The host is cloned out before the call, so a host may call back into the guest
/// (which may call the host again) without a `RefCell` conflict.
pub fn with_host(call: impl FnOnce(&dyn Host) -> u32) -> u32 {
    match HOST.with(|slot| slot.borrow().clone()) {
        Some(host) => call(&*host),
        None => super::Status::Unimplemented.raw(),
    }
}
