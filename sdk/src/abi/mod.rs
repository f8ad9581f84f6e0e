//! The proxy-wasm ABI 0.2.1, raw: host imports, wire types, map encoding. (The guest
//! exports, which call into the SDK, live in the private runtime.)
//!
//! Everything here is `unsafe` and speaks in pointers and integers; filters use the safe
//! [`host`](crate::host) layer and the [`HttpFilter`](crate::HttpFilter)/[`Plugin`](crate::Plugin)
//! traits instead.
//!
//! # The seam
//! Each host function is declared once, in the file of its ABI area, with the `hostcalls!`
//! macro.
//! On `wasm32` the declaration becomes an import from the `env` module, exactly as Envoy
//! links it. On any other target it becomes a plain Rust function that forwards to the
//! [`native::Host`] installed on the current thread, so the same filter code runs against
//! an in-process host in `cargo test`. With no host installed a call returns
//! [`Status::Unimplemented`].

/// Declares the host functions of one ABI area; see the [module docs](self).
macro_rules! hostcalls {
    (
        $(#[$trait_meta:meta])* trait $area:ident;
        $( $(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?); )*
    ) => {
        #[cfg(target_arch = "wasm32")]
        #[link(wasm_import_module = "env")]
        unsafe extern "C" {
            $( $(#[$meta])* pub fn $name($($arg: $ty),*) -> u32; )*
        }

        $(#[$trait_meta])*
        ///
        /// Implemented by an in-process host (see [`native`](crate::abi::native)); every call
        /// defaults to `Unimplemented`. Arguments are exactly those of the wasm import, with
        /// pointers into this process's memory.
        #[cfg(not(target_arch = "wasm32"))]
        pub trait $area {
            $(
                $(#[$meta])*
                ///
                /// # Safety
                /// Pointers must be valid for the sizes passed alongside them.
                #[allow(unused_variables, clippy::too_many_arguments)]
                unsafe fn $name(&self, $($arg: $ty),*) -> u32 {
                    $crate::abi::Status::Unimplemented.raw()
                }
            )*
        }

        $(
            $(#[$meta])*
            ///
            /// # Safety
            /// Pointers must be valid for the sizes passed alongside them.
            #[cfg(not(target_arch = "wasm32"))]
            #[allow(clippy::too_many_arguments)] // the ABI's arity
            pub unsafe fn $name($($arg: $ty),*) -> u32 {
                // SAFETY: the caller's contract (above) is the host method's, passed on.
                $crate::abi::native::with_host(|host| unsafe { host.$name($($arg),*) })
            }
        )*
    };
}

pub mod imports;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod pairs;
mod types;

pub use types::{Action, BufferType, LogLevel, MapType, MetricType, PeerType, Status, StreamType};
