//! Foreign functions: host extensions called by name.

use super::{HostResult, returned_bytes};
use crate::abi::imports as abi;

/// Calls the host's function `name` with `arguments`; its results, if it returns any.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn call(name: &str, arguments: &[u8]) -> HostResult<Option<Vec<u8>>> {
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    returned_bytes("proxy_call_foreign_function", |data, size| unsafe {
        abi::proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            arguments.as_ptr(),
            arguments.len(),
            data,
            size,
        )
    })
}
