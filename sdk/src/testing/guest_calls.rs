//! The host functions as the embedded VM ([`wasm`](super::wasm)) serves them to a wasm
//! guest, from the same in-process [`Host`] the native emulator uses: the glue between a
//! guest's raw parameters and memory and the declared arguments.
//!
//! Nothing here declares a host function again: each area's `declarations!` (see the
//! `abi` module docs) hands its declarations to [`guest_calls!`], which makes one
//! [`GuestCall`] of each. A call reads the declared arguments from the guest's raw
//! parameters (bytes from its memory), calls the host with them, and, when the host returns
//! `Ok`, writes what it returned back into the guest's memory.

use crate::abi::imports::Host;

/// One host function as a wasm guest imports it from `env`.
#[derive(Clone, Copy)]
pub(crate) struct GuestCall {
    /// The import's name.
    pub(crate) name: &'static str,
    /// Its parameters: `true` for a 64-bit one (it returns one `i32`, the status).
    pub(crate) params: &'static [bool],
    /// Serves it from an in-process host: its raw parameters are read (bytes from the
    /// guest's memory), the host is called with the declared arguments, and what it returns
    /// goes back into the guest's memory.
    pub(crate) run: fn(&dyn Host, &mut dyn GuestMemory, &mut dyn Iterator<Item = u64>) -> u32,
}

/// A scalar as a wasm32 guest passes it: 64-bit values as `i64`, the rest (`usize`
/// included: the guest's is 32 bits) as `i32`.
pub(crate) trait GuestWord: Copy {
    /// Whether the wasm parameter is 64 bits wide.
    const WIDE: bool;
    /// The value from a raw wasm parameter.
    fn from_guest(raw: u64) -> Self;
    /// The bytes the guest reads it as (little-endian, 4 or 8 of them).
    fn to_guest(self) -> Vec<u8>;
}

macro_rules! guest_words {
    ($($ty:ty => $wide:expr, $guest:ty;)*) => {
        $(impl GuestWord for $ty {
            const WIDE: bool = $wide;
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn from_guest(raw: u64) -> Self {
                raw as $guest as $ty
            }
            #[allow(clippy::cast_possible_truncation)]
            fn to_guest(self) -> Vec<u8> {
                (self as $guest).to_le_bytes().to_vec()
            }
        })*
    };
}

guest_words! {
    u32 => false, u32;
    i32 => false, i32;
    usize => false, u32;
    u64 => true, u64;
    i64 => true, i64;
}

/// A wasm guest's side of a host call: its linear memory, and its allocator.
pub(crate) trait GuestMemory {
    /// `len` bytes at `ptr`; `None` when they are outside the guest's memory.
    fn read(&mut self, ptr: u32, len: u32) -> Option<Vec<u8>>;
    /// Writes `bytes` at `ptr`; `false` when that is outside the guest's memory.
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> bool;
    /// Hands `value` to the guest as Envoy does: pointer 0 and size 0 when it is empty,
    /// else memory from the guest's `proxy_on_memory_allocate`; its address and size are
    /// written at `ptr_ptr` and `size_ptr`. `false` when that cannot be done.
    fn give(&mut self, ptr_ptr: u32, size_ptr: u32, value: Vec<u8>) -> bool;
}

/// One ABI area's host functions, from its declarations (the `hostcalls!` input handed
/// over by the area's `declarations!`): a `&[GuestCall]`.
macro_rules! guest_calls {
    (
        $(#[$trait_meta:meta])* trait $area:ident;
        $( $(#[$meta:meta])* fn $name:ident($($args:tt)*); )*
    ) => {
        &[$( guest_call! { @munch $area $name [params guest] [] [] [] [] $($args)* } ),*]
    };
}

/// One host function's [`GuestCall`]. Walks the declared arguments one at a time, as the
/// `abi` layer's `hostcall!` does for the native stand-in, collecting the arguments struct's
/// fields, reading them from the guest before the call, writing what the host returned
/// into the guest after it, and the wasm parameters' widths. Names it introduces (`data`,
/// `size`, `out`, `bytes`) are fresh in each step, so two byte arguments do not collide;
/// the guest's parameters and memory (`$p`, `$g`) are named once, at the start.
macro_rules! guest_call {
    (@munch $area:ident $name:ident $idents:tt [$($init:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($wide:tt)*] $(,)?) => {
        guest_call! { @emit $area $name $idents [$($init)*] [$($pre)*] [$($post)*] [$($wide)*] }
    };
    (@munch $area:ident $name:ident [$p:ident $g:ident] [$($init:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($wide:tt)*]
        $arg:ident : &[u8] $(, $($rest:tt)*)?) => {
        guest_call! { @munch $area $name [$p $g]
            [$($init)* $arg,]
            [$($pre)*
                let (data, size) = ($p.next().unwrap_or(0) as u32, $p.next().unwrap_or(0) as u32);
                let Some(bytes) = $g.read(data, size) else {
                    return $crate::abi::Status::InvalidMemoryAccess.raw();
                };
                let $arg = bytes.as_slice();]
            [$($post)*]
            [$($wide)* false, false,]
            $($($rest)*)? }
    };
    (@munch $area:ident $name:ident [$p:ident $g:ident] [$($init:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($wide:tt)*]
        $arg:ident : &mut Vec<u8> $(, $($rest:tt)*)?) => {
        guest_call! { @munch $area $name [$p $g]
            [$($init)* $arg: &mut $arg,]
            [$($pre)*
                let (data, size) = ($p.next().unwrap_or(0) as u32, $p.next().unwrap_or(0) as u32);
                let mut $arg = Vec::new();]
            [$($post)*
                if !$g.give(data, size, $arg) {
                    return $crate::abi::Status::InvalidMemoryAccess.raw();
                }]
            [$($wide)* false, false,]
            $($($rest)*)? }
    };
    (@munch $area:ident $name:ident [$p:ident $g:ident] [$($init:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($wide:tt)*]
        $arg:ident : &mut $ty:ident $(, $($rest:tt)*)?) => {
        guest_call! { @munch $area $name [$p $g]
            [$($init)* $arg: &mut $arg,]
            [$($pre)*
                let out = $p.next().unwrap_or(0) as u32;
                let mut $arg: $ty = 0;]
            [$($post)*
                if !$g.write(out, &GuestWord::to_guest($arg)) {
                    return $crate::abi::Status::InvalidMemoryAccess.raw();
                }]
            [$($wide)* false,]
            $($($rest)*)? }
    };
    (@munch $area:ident $name:ident [$p:ident $g:ident] [$($init:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($wide:tt)*]
        $arg:ident : $ty:ident $(, $($rest:tt)*)?) => {
        guest_call! { @munch $area $name [$p $g]
            [$($init)* $arg,]
            [$($pre)*
                let $arg = <$ty as GuestWord>::from_guest($p.next().unwrap_or(0));]
            [$($post)*]
            [$($wide)* <$ty as GuestWord>::WIDE,]
            $($($rest)*)? }
    };
    (@emit $area:ident $name:ident [$p:ident $g:ident] [$($init:tt)*] [$($pre:tt)*] [$($post:tt)*] [$($wide:tt)*]) => {
        GuestCall {
            name: stringify!($name),
            params: &[$($wide)*],
            run: {
                #[allow(unused_mut, unused_variables)]
                fn run(
                    host: &dyn Host,
                    $g: &mut dyn GuestMemory,
                    $p: &mut dyn Iterator<Item = u64>,
                ) -> u32 {
                    $($pre)*
                    let status = $crate::abi::imports::$area::$name(
                        host,
                        $crate::abi::imports::$name::Args {
                            $($init)*
                            _call: std::marker::PhantomData,
                        },
                    );
                    if status == $crate::abi::Status::Ok.raw() {
                        $($post)*
                    }
                    status
                }
                run
            },
        }
    };
}

/// Every host function, as a wasm guest imports it from `env`, by ABI area.
pub(crate) const GUEST_CALLS: [&[GuestCall]; 13] = [
    crate::abi::imports::buffers::declarations!(guest_calls),
    crate::abi::imports::context::declarations!(guest_calls),
    crate::abi::imports::foreign::declarations!(guest_calls),
    crate::abi::imports::grpc::declarations!(guest_calls),
    crate::abi::imports::headers::declarations!(guest_calls),
    crate::abi::imports::http_call::declarations!(guest_calls),
    crate::abi::imports::log::declarations!(guest_calls),
    crate::abi::imports::metrics::declarations!(guest_calls),
    crate::abi::imports::properties::declarations!(guest_calls),
    crate::abi::imports::shared_data::declarations!(guest_calls),
    crate::abi::imports::shared_queue::declarations!(guest_calls),
    crate::abi::imports::stream::declarations!(guest_calls),
    crate::abi::imports::time::declarations!(guest_calls),
];
