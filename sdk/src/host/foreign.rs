//! Foreign functions: host extensions called by name.

use super::{HostResult, returned_bytes};
use crate::abi::imports::safe as abi;

/// Calls the host's function `name` with `arguments`; its results, if it returns any.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn call(name: &str, arguments: &[u8]) -> HostResult<Option<Vec<u8>>> {
    returned_bytes("proxy_call_foreign_function", |data| {
        abi::proxy_call_foreign_function(name.as_bytes(), arguments, data)
    })
}
