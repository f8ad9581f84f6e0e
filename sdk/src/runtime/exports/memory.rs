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

#[cfg(test)]
mod tests {
    use super::proxy_on_memory_allocate;
    use crate::host::take_returned;

    #[test]
    fn memory_given_to_the_host_comes_back_as_an_owned_vec() {
        for size in [1usize, 7, 4096, 70_000] {
            let data = proxy_on_memory_allocate(size);
            assert!(!data.is_null());
            // The host writes `size` bytes, then the SDK takes ownership and frees them.
            // SAFETY: `data` was just allocated for `size` bytes.
            unsafe { std::ptr::write_bytes(data, 0xab, size) };
            // SAFETY: as the host would: `data` holds `size` bytes from the allocator.
            let bytes = unsafe { take_returned(data, size) }.unwrap();
            assert_eq!(bytes.len(), size);
            assert!(bytes.iter().all(|b| *b == 0xab));
        }
    }

    #[test]
    fn zero_bytes_are_not_null_and_never_freed() {
        let data = proxy_on_memory_allocate(0);
        assert!(!data.is_null(), "null means failure to the host");
        // SAFETY: zero bytes from the allocator, and a null pointer: both allowed.
        assert_eq!(unsafe { take_returned(data, 0) }, Some(Vec::new()));
        // SAFETY: as above.
        assert_eq!(unsafe { take_returned(std::ptr::null_mut(), 0) }, None);
    }

    #[test]
    fn many_allocations_do_not_leak() {
        #[cfg(target_arch = "wasm32")]
        let pages_before = core::arch::wasm32::memory_size(0);
        for _ in 0..10_000 {
            let data = proxy_on_memory_allocate(65_536);
            // SAFETY: `data` holds 65,536 bytes from the allocator.
            drop(unsafe { take_returned(data, 65_536) });
        }
        // A leak would have grown linear memory by 10,000 x 64 KiB pages.
        #[cfg(target_arch = "wasm32")]
        assert!(
            core::arch::wasm32::memory_size(0) - pages_before < 16,
            "linear memory grew"
        );
    }
}
