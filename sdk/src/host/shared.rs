//! Shared data and shared queues (shared by every VM with the same `vm_id`).

use super::{HostResult, check, check_found, returned_bytes, take_returned};
use crate::abi::{Status, imports as abi};

/// The value of `key` and its compare-and-swap version, or `None`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn get_data(key: &str) -> HostResult<Option<(Vec<u8>, u32)>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size = 0usize;
    let mut cas = 0u32;
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    let status = unsafe {
        abi::proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas)
    };
    // SAFETY: the host allocated `data` for `size` bytes, or left it null.
    let value = unsafe { take_returned(data, size) };
    Ok(check_found("proxy_get_shared_data", status)?.map(|()| (value.unwrap_or_default(), cas)))
}

/// Sets `key`. With `Some(cas)` the write only happens if nobody wrote since that version
/// was read: `Ok(false)` means somebody did.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn set_data(key: &str, value: &[u8], cas: Option<u32>) -> HostResult<bool> {
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    let status = unsafe {
        abi::proxy_set_shared_data(
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
            cas.unwrap_or(0),
        )
    };
    match Status::from_raw(status) {
        Status::CasMismatch => Ok(false),
        _ => check("proxy_set_shared_data", status).map(|()| true),
    }
}

/// Creates (or opens) queue `name` of this VM; this plugin is told when items arrive.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn register_queue(name: &str) -> HostResult<u32> {
    let mut id = 0u32;
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_register_shared_queue", unsafe {
        abi::proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id)
    })?;
    Ok(id)
}

/// Finds queue `name` of VM `vm_id`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn resolve_queue(vm_id: &str, name: &str) -> HostResult<Option<u32>> {
    let mut id = 0u32;
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    let status = unsafe {
        abi::proxy_resolve_shared_queue(
            vm_id.as_ptr(),
            vm_id.len(),
            name.as_ptr(),
            name.len(),
            &mut id,
        )
    };
    Ok(check_found("proxy_resolve_shared_queue", status)?.map(|()| id))
}

/// Appends `item` to queue `id`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn enqueue(id: u32, item: &[u8]) -> HostResult<()> {
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_enqueue_shared_queue", unsafe {
        abi::proxy_enqueue_shared_queue(id, item.as_ptr(), item.len())
    })
}

/// Takes the first item of queue `id`; `None` when it is empty.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn dequeue(id: u32) -> HostResult<Option<Vec<u8>>> {
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    returned_bytes("proxy_dequeue_shared_queue", |data, size| unsafe {
        abi::proxy_dequeue_shared_queue(id, data, size)
    })
}
