//! The raw side of the in-process seam used off wasm: reading a raw call's arguments and
//! writing its results. The host itself (a [`Host`](super::imports::Host) per thread) is
//! installed in [`imports`](super::imports).

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
