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

/// The bytes a raw input argument points to: empty for a null pointer or size 0.
///
/// # Safety
/// A non-null `data` must be valid for reads of `size` bytes for `'a`.
pub unsafe fn input<'a>(data: *const u8, size: usize) -> &'a [u8] {
    if data.is_null() || size == 0 {
        &[]
    } else {
        // SAFETY: non-null and valid for `size` bytes (the caller's contract).
        unsafe { std::slice::from_raw_parts(data, size) }
    }
}

/// Hands `value` to the guest through a raw return buffer as Envoy does: an empty value is
/// pointer 0 and size 0 with nothing allocated; anything else is memory the guest then owns,
/// allocated with byte alignment and exactly `value.len()` bytes (as the guest's
/// `proxy_on_memory_allocate` would).
///
/// # Safety
/// Both pointers must be valid for writes.
pub unsafe fn output(value: Vec<u8>, return_data: *mut *mut u8, return_size: *mut usize) {
    let size = value.len();
    let data = if value.is_empty() {
        std::ptr::null_mut()
    } else {
        // A boxed slice's allocation is exactly `size` bytes at byte alignment.
        Box::into_raw(value.into_boxed_slice()).cast::<u8>()
    };
    // SAFETY: both pointers are valid for writes (the caller's contract).
    unsafe {
        return_data.write(data);
        return_size.write(size);
    }
}

/// A scalar as a wasm32 guest passes it: 64-bit values as `i64`, the rest (`usize`
/// included: the guest's is 32 bits) as `i32`.
#[cfg(feature = "testing")]
pub trait GuestWord: Copy {
    /// Whether the wasm parameter is 64 bits wide.
    const WIDE: bool;
    /// The value from a raw wasm parameter.
    fn from_guest(raw: u64) -> Self;
    /// The bytes the guest reads it as (little-endian, 4 or 8 of them).
    fn to_guest(self) -> Vec<u8>;
}

#[cfg(feature = "testing")]
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

#[cfg(feature = "testing")]
guest_words! {
    u32 => false, u32;
    i32 => false, i32;
    usize => false, u32;
    u64 => true, u64;
    i64 => true, i64;
}

/// A wasm guest's side of a host call: its linear memory, and its allocator.
#[cfg(feature = "testing")]
pub trait GuestMemory {
    /// `len` bytes at `ptr`; `None` when they are outside the guest's memory.
    fn read(&mut self, ptr: u32, len: u32) -> Option<Vec<u8>>;
    /// Writes `bytes` at `ptr`; `false` when that is outside the guest's memory.
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> bool;
    /// Hands `value` to the guest as Envoy does: pointer 0 and size 0 when it is empty,
    /// else memory from the guest's `proxy_on_memory_allocate`; its address and size are
    /// written at `ptr_ptr` and `size_ptr`. `false` when that cannot be done.
    fn give(&mut self, ptr_ptr: u32, size_ptr: u32, value: Vec<u8>) -> bool;
}

/// One host function as a wasm guest imports it from `env`.
#[cfg(feature = "testing")]
#[derive(Clone, Copy)]
pub struct GuestCall {
    /// The import's name.
    pub name: &'static str,
    /// Its parameters: `true` for a 64-bit one (it returns one `i32`, the status).
    pub params: &'static [bool],
    /// Serves it from an in-process host.
    pub run: fn(&dyn Host, &mut dyn GuestMemory, &mut dyn Iterator<Item = u64>) -> u32,
}
