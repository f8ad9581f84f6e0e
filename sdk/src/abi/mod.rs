//! The proxy-wasm ABI 0.2.1, raw: host imports, wire types, map encoding. (The guest
//! exports, which call into the SDK, live in the private runtime.)
//!
//! The imports speak in pointers and integers and are `unsafe`; each also has a safe
//! wrapper (in [`imports::safe`]) that takes the declared shapes below. Filters use the
//! safe [`host`](crate::host) layer, built on those wrappers, and the
//! [`HttpFilter`](crate::HttpFilter)/[`Plugin`](crate::Plugin) traits instead.
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
//! a null pointer are empty) and calls the [`imports::Host`] installed on the current
//! thread, so the same filter code runs against an in-process host in `cargo test`. Each
//! call reaches the host as one struct, `<call>::Args`, whose fields are the declared
//! arguments. A returned buffer goes back as Envoy hands it: pointer 0 and size 0 when
//! empty, otherwise memory the SDK then owns. With no host installed a call returns
//! [`Status::Unimplemented`].
//!
//! On every target the declaration also becomes a safe function of the same name in
//! [`imports::safe`], taking the declared shapes themselves and returning the raw status:
//! it passes each slice as its pointer and length and each `&mut` integer as its pointer,
//! and takes over a returned buffer into the `&mut Vec<u8>` (replacing what it held; empty
//! when the host returned none). Their one `unsafe` block, written once in the macro with
//! its reason, is where the safe [`host`](crate::host) layer meets the raw imports: that
//! layer has no `unsafe` of its own. The wrappers are `#[inline]`: a module links the same
//! imports as before.
//!
//! The declarations themselves stay available to the layers above: each area module has a
//! crate-private `declarations!` macro, and `declarations!(then)` expands to
//! `then! { <the area's hostcalls! input> }`. The emulator (`testing`) builds what serves
//! the imports to a wasm guest in its VM from them, so that code lives with the emulator
//! and each host function is still declared once.

/// Declares the host functions of one ABI area; see the [module docs](self).
macro_rules! hostcalls {
    // `$d` is a `$` handed in, for the metavariables of the `declarations!` macro it defines.
    (
        @area ($d:tt)
        $(#[$trait_meta:meta])* trait $area:ident;
        $( $(#[$meta:meta])* fn $name:ident($($args:tt)*); )*
    ) => {
        /// This area's declarations, as written: `declarations!(then)` is
        /// `then! { <the declarations> }`, for a layer above to generate its own code from
        /// them (see the [`abi` module docs](crate::abi)).
        #[allow(unused_macros)]
        macro_rules! declarations {
            ($d then:ident) => {
                $d then! {
                    $(#[$trait_meta])* trait $area;
                    $( $(#[$meta])* fn $name($($args)*); )*
                }
            };
        }
        #[allow(unused_imports)]
        pub(crate) use declarations;

        $(#[$trait_meta])*
        ///
        /// Implemented by an in-process host (see [`Host`](crate::abi::imports::Host)); every call
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

        $( hostcall! { @munch [$(#[$meta])*] $name [] [] [] [] [] $($args)* } )*

        /// This area's host functions, safe: each takes its declared arguments and returns
        /// the host's status (see the [`abi` module docs](crate::abi)).
        pub mod safe {
            $( safe_hostcall! { @munch [$(#[$meta])*] $name [] [] [] [] $($args)* } )*
        }
    };
    ($($declarations:tt)*) => {
        hostcalls! { @area ($) $($declarations)* }
    };
}

/// One host function: the raw import, its native stand-in and its arguments struct.
/// Walks the declared arguments one at a time, collecting the raw parameters, the
/// conversions before and after the call and the struct's fields. Names it introduces
/// (`data`, `size`, `out`) are fresh in each step, so two byte arguments do not collide.
/// (The guest side, serving the import to a wasm guest, is the emulator's: `testing` walks
/// the same declarations, handed over by `declarations!`.)
macro_rules! hostcall {
    (@munch $meta:tt $name:ident [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*] $(,)?) => {
        hostcall! { @emit $meta $name [$($raw)*] [$($pre)*] [$($post)*] [$($field)*] [$($init)*] }
    };
    (@munch $meta:tt $name:ident [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*]
        $arg:ident : &[u8] $(, $($rest:tt)*)?) => {
        hostcall! { @munch $meta $name
            [$($raw)* data: *const u8, size: usize,]
            [$($pre)*
                // SAFETY: the raw function's contract: `data` is valid for `size` bytes
                // for the whole call (or null with size 0).
                let $arg = unsafe { $crate::abi::native::input(data, size) };]
            [$($post)*]
            [$($field)* #[doc = concat!("`", stringify!($arg), "`: bytes the guest passed in.")] pub $arg: &'a [u8],]
            [$($init)* $arg,]
            $($($rest)*)? }
    };
    (@munch $meta:tt $name:ident [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*]
        $arg:ident : &mut Vec<u8> $(, $($rest:tt)*)?) => {
        hostcall! { @munch $meta $name
            [$($raw)* data: *mut *mut u8, size: *mut usize,]
            [$($pre)* let mut $arg = Vec::new();]
            [$($post)*
                // SAFETY: the raw function's contract: both pointers are valid for writes.
                unsafe { $crate::abi::native::output($arg, data, size) };]
            [$($field)* #[doc = concat!("`", stringify!($arg), "`: the bytes to return; the guest gets them if the call returns `Ok`.")] pub $arg: &'a mut Vec<u8>,]
            [$($init)* $arg: &mut $arg,]
            $($($rest)*)? }
    };
    (@munch $meta:tt $name:ident [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*]
        $arg:ident : &mut $ty:ident $(, $($rest:tt)*)?) => {
        hostcall! { @munch $meta $name
            [$($raw)* out: *mut $ty,]
            [$($pre)* let mut $arg: $ty = 0;]
            [$($post)*
                // SAFETY: the raw function's contract: `out` is valid for writes.
                unsafe { out.write($arg) };]
            [$($field)* #[doc = concat!("`", stringify!($arg), "`: the value to return; the guest gets it if the call returns `Ok`.")] pub $arg: &'a mut $ty,]
            [$($init)* $arg: &mut $arg,]
            $($($rest)*)? }
    };
    (@munch $meta:tt $name:ident [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*]
        $arg:ident : $ty:ident $(, $($rest:tt)*)?) => {
        hostcall! { @munch $meta $name
            [$($raw)* $arg: $ty,]
            [$($pre)*]
            [$($post)*]
            [$($field)* #[doc = concat!("`", stringify!($arg), "`: a value the guest passed in.")] pub $arg: $ty,]
            [$($init)* $arg,]
            $($($rest)*)? }
    };
    (@emit [$(#[$meta:meta])*] $name:ident [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($field:tt)*] [$($init:tt)*]) => {
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
            $crate::abi::imports::with_host(|host| {
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
        }
    };
}

/// One host function's safe wrapper, in the area's `safe` module beside the raw function.
/// Walks the declared arguments like `hostcall!`, collecting the wrapper's parameters (the
/// declared shapes), the raw function's arguments, the locals a returned buffer's address
/// and size are written to, and the takeover of that buffer after the call. Names it
/// introduces (`data`, `size`) are fresh in each step, so two buffers do not collide.
macro_rules! safe_hostcall {
    (@munch $meta:tt $name:ident [$($param:tt)*] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*] $(,)?) => {
        safe_hostcall! { @emit $meta $name [$($param)*] [$($raw)*] [$($pre)*] [$($post)*] }
    };
    (@munch $meta:tt $name:ident [$($param:tt)*] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*]
        $arg:ident : &[u8] $(, $($rest:tt)*)?) => {
        safe_hostcall! { @munch $meta $name
            [$($param)* $arg: &[u8],]
            [$($raw)* $arg.as_ptr(), $arg.len(),]
            [$($pre)*]
            [$($post)*]
            $($($rest)*)? }
    };
    (@munch $meta:tt $name:ident [$($param:tt)*] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*]
        $arg:ident : &mut Vec<u8> $(, $($rest:tt)*)?) => {
        safe_hostcall! { @munch $meta $name
            [$($param)* $arg: &mut Vec<u8>,]
            [$($raw)* &mut data, &mut size,]
            [$($pre)* let mut data: *mut u8 = ::core::ptr::null_mut(); let mut size: usize = 0;]
            [$($post)* *$arg = $crate::abi::take_returned(data, size).unwrap_or_default();]
            $($($rest)*)? }
    };
    (@munch $meta:tt $name:ident [$($param:tt)*] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*]
        $arg:ident : &mut $ty:ident $(, $($rest:tt)*)?) => {
        safe_hostcall! { @munch $meta $name
            [$($param)* $arg: &mut $ty,]
            [$($raw)* $arg,]
            [$($pre)*]
            [$($post)*]
            $($($rest)*)? }
    };
    (@munch $meta:tt $name:ident [$($param:tt)*] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*]
        $arg:ident : $ty:ident $(, $($rest:tt)*)?) => {
        safe_hostcall! { @munch $meta $name
            [$($param)* $arg: $ty,]
            [$($raw)* $arg,]
            [$($pre)*]
            [$($post)*]
            $($($rest)*)? }
    };
    (@emit [$(#[$meta:meta])*] $name:ident [$($param:tt)*] [$($raw:tt)*] [$($pre:tt)*] [$($post:tt)*]) => {
        $(#[$meta])*
        ///
        /// The safe call: the declared arguments themselves, the host's raw status back. A
        /// returned buffer replaces what its `Vec` held (empty when the host returned none),
        /// whatever the status.
        #[inline]
        #[allow(clippy::too_many_arguments, clippy::let_and_return)] // the ABI's arity
        pub fn $name($($param)*) -> u32 {
            $($pre)*
            // SAFETY: every pointer passed comes from a Rust reference or a local of this
            // function, live for the whole call: a slice's pointer with its length beside it
            // (the host reads those bytes only), a `&mut` integer's or a local's pointer (the
            // host writes one value of its type there). A returned buffer is taken over as
            // the ABI hands it, whatever the status: the pointer left 0 (size 0: empty), or
            // memory the host allocated for exactly `size` bytes with this module's
            // `proxy_on_memory_allocate` (off wasm, the in-process seam allocates it the same
            // way, see `native::output`), which the SDK then owns and frees.
            unsafe {
                let status = super::$name($($raw)*);
                $($post)*
                status
            }
        }
    };
}

/// Takes ownership of bytes the host wrote into memory from `proxy_on_memory_allocate`:
/// `None` for a null pointer, empty for size 0.
///
/// # Safety
/// `data` must be null, or come from `proxy_on_memory_allocate(size)` with this `size`.
pub(crate) unsafe fn take_returned(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        None
    } else if size == 0 {
        Some(Vec::new())
    } else {
        // SAFETY: allocated by the global allocator with byte alignment and exactly `size`
        // bytes (see `proxy_on_memory_allocate`), all written by the host.
        Some(unsafe { Vec::from_raw_parts(data, size, size) })
    }
}

#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub mod dynamic_module;
pub mod imports;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod pairs;
mod types;

pub use types::{Action, BufferType, LogLevel, MapType, MetricType, PeerType, Status, StreamType};

/// A write to one header of a map: what `proxy_replace_header_map_value`,
/// `proxy_add_header_map_value` and `proxy_remove_header_map_value` do, and what the
/// native target asks of Envoy's map.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HeaderWrite<'a> {
    /// This value alone.
    Replace(&'a [u8]),
    /// One more value.
    Add(&'a [u8]),
    /// No value.
    Remove,
}

impl HeaderWrite<'_> {
    /// The proxy-wasm call that makes it.
    pub(crate) fn call(self) -> &'static str {
        match self {
            HeaderWrite::Replace(_) => "proxy_replace_header_map_value",
            HeaderWrite::Add(_) => "proxy_add_header_map_value",
            HeaderWrite::Remove => "proxy_remove_header_map_value",
        }
    }
}

/// Where a phase's header calls go: to the current thread's host (every target), or
/// natively straight to Envoy's object of the stream whose hook runs the phase, without
/// the proxy-wasm seam (no thread-local host to find, no arguments to re-encode).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Via {
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    stream: Option<dynamic_module::stream::HttpStream>,
}

impl Via {
    /// Through the current thread's host.
    pub(crate) const HOST: Via = Via {
        #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
        stream: None,
    };

    /// Straight to `stream`, the stream whose hook is running.
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    pub(crate) const fn stream(stream: dynamic_module::stream::HttpStream) -> Via {
        Via {
            stream: Some(stream),
        }
    }

    /// The stream's map `map` in Envoy, when calls on it go straight there.
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    pub(crate) fn direct(self, map: MapType) -> Option<(dynamic_module::stream::HttpStream, u32)> {
        Some((
            self.stream?,
            dynamic_module::stream::stream_map(map as u32)?,
        ))
    }
}
