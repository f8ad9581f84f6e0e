//! Shared data and shared queues (shared by every VM with the same `vm_id`).

use super::{HostResult, check, check_found, returned_bytes};
use crate::abi::{Status, imports::safe as abi};

/// The value of `key` and its compare-and-swap version, or `None`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn get_data(key: &str) -> HostResult<Option<(Vec<u8>, u32)>> {
    let mut value = Vec::new();
    let mut cas = 0u32;
    let status = abi::proxy_get_shared_data(key.as_bytes(), &mut value, &mut cas);
    Ok(check_found("proxy_get_shared_data", status)?.map(|()| (value, cas)))
}

/// Sets `key`. With `Some(cas)` the write only happens if nobody wrote since that version
/// was read: `Ok(false)` means somebody did.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn set_data(key: &str, value: &[u8], cas: Option<u32>) -> HostResult<bool> {
    let status = abi::proxy_set_shared_data(key.as_bytes(), value, cas.unwrap_or(0));
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
    check(
        "proxy_register_shared_queue",
        abi::proxy_register_shared_queue(name.as_bytes(), &mut id),
    )?;
    Ok(id)
}

/// Finds queue `name` of VM `vm_id`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn resolve_queue(vm_id: &str, name: &str) -> HostResult<Option<u32>> {
    let mut id = 0u32;
    let status = abi::proxy_resolve_shared_queue(vm_id.as_bytes(), name.as_bytes(), &mut id);
    Ok(check_found("proxy_resolve_shared_queue", status)?.map(|()| id))
}

/// Appends `item` to queue `id`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn enqueue(id: u32, item: &[u8]) -> HostResult<()> {
    check(
        "proxy_enqueue_shared_queue",
        abi::proxy_enqueue_shared_queue(id, item),
    )
}

/// Takes the first item of queue `id`; `None` when it is empty.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn dequeue(id: u32) -> HostResult<Option<Vec<u8>>> {
    returned_bytes("proxy_dequeue_shared_queue", |data| {
        abi::proxy_dequeue_shared_queue(id, data)
    })
}
