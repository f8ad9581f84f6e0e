//! Byte buffers: bodies, callout bodies, configurations.

use super::{HostResult, check, returned_bytes};
use crate::abi::{BufferType, imports::safe as abi};

/// Up to `max_size` bytes from `start`; `None` when the buffer does not exist here.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn get(buffer: BufferType, start: usize, max_size: usize) -> HostResult<Option<Vec<u8>>> {
    returned_bytes("proxy_get_buffer_bytes", |data| {
        abi::proxy_get_buffer_bytes(buffer as u32, start, max_size, data)
    })
}

/// Replaces `size` bytes from `start` with `data` (`start` past the end appends).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn set(buffer: BufferType, start: usize, size: usize, data: &[u8]) -> HostResult<()> {
    check(
        "proxy_set_buffer_bytes",
        abi::proxy_set_buffer_bytes(buffer as u32, start, size, data),
    )
}

/// The buffer's current size.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn size(buffer: BufferType) -> HostResult<usize> {
    let mut size = 0usize;
    let mut flags = 0u32;
    check(
        "proxy_get_buffer_status",
        abi::proxy_get_buffer_status(buffer as u32, &mut size, &mut flags),
    )?;
    Ok(size)
}
