//! The proxy-wasm ABI 0.2.1, raw: host imports, wire types, map encoding. (The guest
//! exports, which call into the SDK, live in the private runtime.)
//!
//! Everything here is `unsafe` and speaks in pointers and integers; filters use the safe
//! [`host`](crate::host) layer and the [`HttpFilter`](crate::HttpFilter)/[`Plugin`](crate::Plugin)
//! traits instead.
//!
//! # The seam
//! Each host function is declared once, in the file of its ABI area, with the `hostcalls!`
//! macro, in the safe shape an in-process host sees:
//!
//! | declared as | wasm import (what Envoy links) |
//! |---|---|
//! | `name: u32` (any integer) | `name: u32` |
//! | `name: &[u8]` | a pointer and a length |
//! | `name: &mut u32` (any integer) | a pointer the host writes the value to |
//! | `name: &mut Vec<u8>` | two pointers the host writes a buffer's address and size to |
//!
//! On `wasm32` the declaration becomes an import from the `env` module with the raw
//! arguments, exactly as Envoy links it. On any other target it becomes a plain Rust
//! function with the same raw arguments that turns them into the declared shape (bytes from
//! a null pointer are empty) and calls the [`native::Host`] installed on the current
//! thread, so the same filter code runs against an in-process host in `cargo test`. Each
//! call reaches the host as one struct, `<call>::Args`, whose fields are the declared
//! arguments. A returned buffer goes back as Envoy hands it: pointer 0 and size 0 when
//! empty, otherwise memory the SDK then owns. With no host installed a call returns
//! [`Status::Unimplemented`].

/// Declares the host functions of one ABI area; see the [module docs](self).
macro_rules! hostcalls {
    (
        $(#[$trait_meta:meta])* trait $area:ident;
        $( $(#[$meta:meta])* fn $name:ident($($args:tt)*); )*
    ) => {
        $(#[$trait_meta])*
        ///
        /// Implemented by an in-process host (see [`native`](crate::abi::native)); every call
        /// defaults to `Unimplemented`. Each gets its arguments as one struct.
        #[cfg(not(target_arch = "wasm32"))]
        pub trait $area {
            $(
                $(#[$meta])*
                #[allow(unused_variables)]
                fn $name(&self, call: $name::Args<'_>) -> u32 {
                    $crate::abi::Status::Unimplemented.raw()
                }
            )*
        }

        $( hostcall! { @munch [$(#[$meta])*] $name [params guest] [] [] [] [] [] [] [] [] $($args)* } )*

        /// This area's host functions as a wasm guest imports them, for an embedded VM to
        /// serve from an in-process host.
        #[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
        pub const GUEST_CALLS: &[$crate::abi::native::GuestCall] = &[
            $($crate::abi::native::GuestCall {
                name: stringify!($name),
                params: $name::PARAMS,
                run: $name::from_guest,
            }),*
        ];
    };
}

/// One host function: the raw import, its native stand-in and its arguments struct.
/// Walks the declared arguments one at a time, collecting the raw parameters, the
/// conversions before and after the call and the struct's fields. Names it introduces
/// (`data`, `size`, `out`) are fresh in each step, so two byte arguments do not collide.
macro_rules! hostcall {
    (@munch $meta:tt $name:ident $idents:tt [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*] [$($gpre:tt)*] [$($gpost:tt)*] [$($wide:tt)*] $(,)?) => {
        hostcall! { @emit $meta $name $idents [$($raw)*] [$($pre)*] [$($post)*] [$($field)*] [$($init)*] [$($gpre)*] [$($gpost)*] [$($wide)*] }
    };
    (@munch $meta:tt $name:ident [$p:ident $g:ident] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*] [$($gpre:tt)*] [$($gpost:tt)*] [$($wide:tt)*]
        $arg:ident : &[u8] $(, $($rest:tt)*)?) => {
        hostcall! { @munch $meta $name [$p $g]
            [$($raw)* data: *const u8, size: usize,]
            [$($pre)*
                // SAFETY: the raw function's contract: `data` is valid for `size` bytes
                // for the whole call (or null with size 0).
                let $arg = unsafe { $crate::abi::native::input(data, size) };]
            [$($post)*]
            [$($field)* #[doc = concat!("`", stringify!($arg), "`: bytes the guest passed in.")] pub $arg: &'a [u8],]
            [$($init)* $arg,]
            [$($gpre)*
                let (data, size) = ($p.next().unwrap_or(0) as u32, $p.next().unwrap_or(0) as u32);
                let Some(bytes) = $g.read(data, size) else {
                    return $crate::abi::Status::InvalidMemoryAccess.raw();
                };
                let $arg = bytes.as_slice();]
            [$($gpost)*]
            [$($wide)* false, false,]
            $($($rest)*)? }
    };
    (@munch $meta:tt $name:ident [$p:ident $g:ident] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*] [$($gpre:tt)*] [$($gpost:tt)*] [$($wide:tt)*]
        $arg:ident : &mut Vec<u8> $(, $($rest:tt)*)?) => {
        hostcall! { @munch $meta $name [$p $g]
            [$($raw)* data: *mut *mut u8, size: *mut usize,]
            [$($pre)* let mut $arg = Vec::new();]
            [$($post)*
                // SAFETY: the raw function's contract: both pointers are valid for writes.
                unsafe { $crate::abi::native::output($arg, data, size) };]
            [$($field)* #[doc = concat!("`", stringify!($arg), "`: the bytes to return; the guest gets them if the call returns `Ok`.")] pub $arg: &'a mut Vec<u8>,]
            [$($init)* $arg: &mut $arg,]
            [$($gpre)*
                let (data, size) = ($p.next().unwrap_or(0) as u32, $p.next().unwrap_or(0) as u32);
                let mut $arg = Vec::new();]
            [$($gpost)*
                if !$g.give(data, size, $arg) {
                    return $crate::abi::Status::InvalidMemoryAccess.raw();
                }]
            [$($wide)* false, false,]
            $($($rest)*)? }
    };
    (@munch $meta:tt $name:ident [$p:ident $g:ident] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*] [$($gpre:tt)*] [$($gpost:tt)*] [$($wide:tt)*]
        $arg:ident : &mut $ty:ident $(, $($rest:tt)*)?) => {
        hostcall! { @munch $meta $name [$p $g]
            [$($raw)* out: *mut $ty,]
            [$($pre)* let mut $arg: $ty = 0;]
            [$($post)*
                // SAFETY: the raw function's contract: `out` is valid for writes.
                unsafe { out.write($arg) };]
            [$($field)* #[doc = concat!("`", stringify!($arg), "`: the value to return; the guest gets it if the call returns `Ok`.")] pub $arg: &'a mut $ty,]
            [$($init)* $arg: &mut $arg,]
            [$($gpre)*
                let out = $p.next().unwrap_or(0) as u32;
                let mut $arg: $ty = 0;]
            [$($gpost)*
                if !$g.write(out, &$crate::abi::native::GuestWord::to_guest($arg)) {
                    return $crate::abi::Status::InvalidMemoryAccess.raw();
                }]
            [$($wide)* false,]
            $($($rest)*)? }
    };
    (@munch $meta:tt $name:ident [$p:ident $g:ident] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*] [$($gpre:tt)*] [$($gpost:tt)*] [$($wide:tt)*]
        $arg:ident : $ty:ident $(, $($rest:tt)*)?) => {
        hostcall! { @munch $meta $name [$p $g]
            [$($raw)* $arg: $ty,]
            [$($pre)*]
            [$($post)*]
            [$($field)* #[doc = concat!("`", stringify!($arg), "`: a value the guest passed in.")] pub $arg: $ty,]
            [$($init)* $arg,]
            [$($gpre)*
                let $arg = <$ty as $crate::abi::native::GuestWord>::from_guest($p.next().unwrap_or(0));]
            [$($gpost)*]
            [$($wide)* <$ty as $crate::abi::native::GuestWord>::WIDE,]
            $($($rest)*)? }
    };
    (@emit [$(#[$meta:meta])*] $name:ident [$p:ident $g:ident] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*] [$($gpre:tt)*] [$($gpost:tt)*] [$($wide:tt)*]) => {
        #[cfg(target_arch = "wasm32")]
        #[link(wasm_import_module = "env")]
        unsafe extern "C" {
            $(#[$meta])*
            pub fn $name($($raw)*) -> u32;
        }

        $(#[$meta])*
        ///
        /// # Safety
        /// Pointers must be valid for the sizes passed alongside them, and return pointers
        /// valid for writes.
        #[cfg(not(target_arch = "wasm32"))]
        #[allow(clippy::too_many_arguments)] // the ABI's arity
        pub unsafe fn $name($($raw)*) -> u32 {
            $crate::abi::native::with_host(|host| {
                $($pre)*
                let status = host.$name($name::Args {
                    $($init)*
                    _call: std::marker::PhantomData,
                });
                if status == $crate::abi::Status::Ok.raw() {
                    $($post)*
                }
                status
            })
        }

        /// The arguments of the host function of the same name, as an in-process host gets them.
        #[cfg(not(target_arch = "wasm32"))]
        pub mod $name {
            /// The declared arguments.
            #[derive(Debug)]
            #[non_exhaustive]
            pub struct Args<'a> {
                $($field)*
                #[doc(hidden)]
                pub _call: std::marker::PhantomData<&'a ()>,
            }

            /// The wasm import's parameters, in order: `true` for a 64-bit one.
            #[cfg(feature = "testing")]
            pub const PARAMS: &[bool] = &[$($wide)*];

            /// Serves the import to a wasm guest: its raw parameters are read (bytes from
            /// its memory), `host` is called with the declared arguments, and what it
            /// returns goes back into the guest's memory.
            #[cfg(feature = "testing")]
            #[allow(unused_mut, unused_variables)]
            pub fn from_guest(
                host: &dyn $crate::abi::native::Host,
                $g: &mut dyn $crate::abi::native::GuestMemory,
                $p: &mut dyn Iterator<Item = u64>,
            ) -> u32 {
                #[allow(unused_imports)]
                use super::*;
                $($gpre)*
                let status = host.$name(Args {
                    $($init)*
                    _call: std::marker::PhantomData,
                });
                if status == $crate::abi::Status::Ok.raw() {
                    $($gpost)*
                }
                status
            }
        }
    };
}

#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub mod dynamic_module;
pub mod imports;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod pairs;
mod types;

pub use types::{Action, BufferType, LogLevel, MapType, MetricType, PeerType, Status, StreamType};
