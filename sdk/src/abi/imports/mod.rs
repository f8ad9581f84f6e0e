//! Host functions (imports from the `env` module), one file per ABI area.

pub mod buffers;
pub mod context;
pub mod foreign;
pub mod grpc;
pub mod headers;
pub mod http_call;
pub mod log;
pub mod metrics;
pub mod properties;
pub mod shared_data;
pub mod shared_queue;
pub mod stream;
pub mod time;

pub use buffers::*;
pub use context::*;
pub use foreign::*;
pub use grpc::*;
pub use headers::*;
pub use http_call::*;
pub use log::*;
pub use metrics::*;
pub use properties::*;
pub use shared_data::*;
pub use shared_queue::*;
pub use stream::*;
pub use time::*;

#[cfg(not(target_arch = "wasm32"))]
pub use seam::*;

/// Every host function, safe: the declared arguments themselves, the host's raw status
/// back (see the [`abi` module docs](crate::abi)). Each area's `safe` module, gathered.
pub mod safe {
    pub use super::buffers::safe::*;
    pub use super::context::safe::*;
    pub use super::foreign::safe::*;
    pub use super::grpc::safe::*;
    pub use super::headers::safe::*;
    pub use super::http_call::safe::*;
    pub use super::log::safe::*;
    pub use super::metrics::safe::*;
    pub use super::properties::safe::*;
    pub use super::shared_data::safe::*;
    pub use super::shared_queue::safe::*;
    pub use super::stream::safe::*;
    pub use super::time::safe::*;
}

/// The in-process host used off wasm: a [`Host`] per thread. Each test thread installs its
/// own, so tests run in parallel without sharing state.
#[cfg(not(target_arch = "wasm32"))]
mod seam {
    use std::cell::{Cell, RefCell};
    use std::ptr::NonNull;
    use std::rc::Rc;

    /// `Host`: every area's trait, listed once.
    macro_rules! every_area {
        ($($area:ident),* $(,)?) => {
            /// Every host function of the ABI; implement the area traits to provide one.
            pub trait Host: $(super::$area +)* {}

            impl<T: $(super::$area +)*> Host for T {}
        };
    }

    every_area!(
        BufferHost,
        ContextHost,
        ForeignHost,
        GrpcHost,
        HeaderHost,
        DirectHeadersHost,
        ScopedContextHost,
        HttpCallHost,
        LogHost,
        MetricsHost,
        PropertyHost,
        SharedDataHost,
        SharedQueueHost,
        StreamHost,
        TimeHost,
    );

    /// The current thread's host: kept alive in `host`, and called through `ptr` (no
    /// borrow and no count per call); `calls` counts the calls under way (a host may call
    /// back into the guest, which calls it again).
    struct Installed {
        host: RefCell<Option<Rc<dyn Host>>>,
        ptr: Cell<Option<NonNull<dyn Host>>>,
        calls: Cell<u32>,
    }

    thread_local! {
        static HOST: Installed = const {
            Installed {
                host: RefCell::new(None),
                ptr: Cell::new(None),
                calls: Cell::new(0),
            }
        };
    }

    /// Installs `host` for the current thread and returns the one it replaces.
    ///
    /// # Panics
    /// If called from within a host call (the host it replaces is in use).
    pub fn install_host(host: Option<Rc<dyn Host>>) -> Option<Rc<dyn Host>> {
        HOST.with(|slot| {
            assert_eq!(
                slot.calls.get(),
                0,
                "install_host called during a host call"
            );
            slot.ptr.set(host.as_deref().map(NonNull::from));
            slot.host.replace(host)
        })
    }

    /// Counts a call under way until dropped (even by a panic).
    struct Calling<'a>(&'a Cell<u32>);

    impl Drop for Calling<'_> {
        fn drop(&mut self) {
            self.0.set(self.0.get() - 1);
        }
    }

    /// Off wasm, a host may hand headers over without the proxy-wasm copies: a map pair by
    /// pair, a value borrowed (the native target reads Envoy's map so).
    pub trait DirectHeadersHost {
        /// Every pair of map `map_type`, in order, packed, with the status; `None` if this
        /// host serializes maps only (the caller then reads `proxy_get_header_map_pairs`).
        fn header_map_packed(&self, map_type: u32) -> Option<(u32, crate::abi::pairs::Packed)> {
            let _ = map_type;
            None
        }

        /// Shows `read` the value of `key` in map `map_type`, borrowed for the call (not
        /// called if absent), and returns the status; `None` if this host copies values
        /// only (the caller then calls `proxy_get_header_map_value`).
        fn header_value_with(
            &self,
            map_type: u32,
            key: &[u8],
            read: &mut dyn FnMut(&[u8]),
        ) -> Option<u32> {
            let _ = (map_type, key, read);
            None
        }
    }

    /// Off wasm, a host may run code on another context and then make the context effective
    /// before effective again by itself: the native target's own streams have no id a guest
    /// could switch back by.
    pub trait ScopedContextHost {
        /// Runs `act` with `context_id` effective (only if the switch is `Ok`), then the
        /// context effective before; returns the switch's status. `None` if this host has
        /// no such call (the caller then switches back by id).
        fn on_context(&self, context_id: u32, act: &mut dyn FnMut()) -> Option<u32> {
            let _ = (context_id, act);
            None
        }
    }

    /// Runs `act` on context `context_id` and comes back, where the current thread's host
    /// can ([`ScopedContextHost`]); `None` where it cannot (`act` has not run).
    pub fn on_context(context_id: u32, act: &mut dyn FnMut()) -> Option<u32> {
        calling(|host| host.on_context(context_id, act))?
    }

    /// Map `map_type` of the current thread's host, packed, where the host hands pairs over
    /// directly ([`DirectHeadersHost`]); `None` where it does not.
    pub fn header_map_packed(map_type: u32) -> Option<(u32, crate::abi::pairs::Packed)> {
        calling(|host| host.header_map_packed(map_type))?
    }

    /// The value of `key` in map `map_type` of the current thread's host, shown to `read`
    /// borrowed, where the host lends it ([`DirectHeadersHost`]); `None` where it does not.
    pub fn header_value_with(
        map_type: u32,
        key: &[u8],
        read: &mut dyn FnMut(&[u8]),
    ) -> Option<u32> {
        calling(|host| host.header_value_with(map_type, key, read))?
    }

    /// Runs `call` on the current thread's host, or returns `Unimplemented` without one.
    ///
    /// No borrow is held during the call, so a host may call back into the guest (which
    /// may call the host again).
    pub fn with_host(call: impl FnOnce(&dyn Host) -> u32) -> u32 {
        calling(call).unwrap_or(crate::abi::Status::Unimplemented.raw())
    }

    /// Runs `call` on the current thread's host; `None` without one.
    fn calling<R>(call: impl FnOnce(&dyn Host) -> R) -> Option<R> {
        HOST.with(|slot| {
            let host = slot.ptr.get()?;
            slot.calls.set(slot.calls.get() + 1);
            let _calling = Calling(&slot.calls);
            // SAFETY: `ptr` points into the `Rc` that `host` keeps, and `install_host`
            // (the only writer of both) refuses to run while `calls` counts this call, so
            // the host outlives it; only shared references to it are made.
            Some(call(unsafe { host.as_ref() }))
        })
    }
}
