//! Integration and memory management.

use std::alloc::{Layout, alloc};

/// Marks the module as speaking proxy-wasm ABI 0.2.1. Never called.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Allocates `size` bytes for data the host returns to the guest.
///
/// Memory from here is owned by the SDK afterwards (see `host::take_returned`), which frees
/// it with the same layout: byte alignment and exactly `size` bytes.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    if size == 0 {
        // A zero-sized allocation is never dereferenced or freed; it only must not be null,
        // which the host reads as failure.
        return std::ptr::NonNull::<u8>::dangling().as_ptr();
    }
    match Layout::from_size_align(size, 1) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { alloc(layout) },
        Err(_) => std::ptr::null_mut(),
    }
}
