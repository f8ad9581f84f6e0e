//! Properties: Envoy's attributes, addressed by path segments.

use super::{HostResult, check, returned_bytes};
use crate::abi::imports::safe as abi;

/// Joins path segments the way the host expects them: separated by NUL bytes.
fn encode_path(path: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(path.iter().map(|p| p.len() + 1).sum());
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            bytes.push(0);
        }
        bytes.extend_from_slice(segment.as_bytes());
    }
    bytes
}

/// The raw value at `path`, such as `["request", "path"]`; `None` if the host has none.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn get(path: &[&str]) -> HostResult<Option<Vec<u8>>> {
    let path = encode_path(path);
    returned_bytes("proxy_get_property", |data| {
        abi::proxy_get_property(&path, data)
    })
}

/// Sets the value at `path`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn set(path: &[&str], value: &[u8]) -> HostResult<()> {
    let path = encode_path(path);
    check("proxy_set_property", abi::proxy_set_property(&path, value))
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_nul_separated() {
        assert_eq!(super::encode_path(&["request", "path"]), b"request\0path");
        assert_eq!(super::encode_path(&["plugin_name"]), b"plugin_name");
        assert!(super::encode_path(&[]).is_empty());
    }
}
