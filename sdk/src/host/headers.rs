//! Header maps: headers, trailers, callout and gRPC metadata.

use super::{HostResult, check, returned_bytes};
use crate::abi::{MapType, imports as abi, pairs};

/// The value of `name` (of a repeated header, its first value, as Envoy 1.40 answers), or
/// `None` if absent.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn get(map: MapType, name: &[u8]) -> HostResult<Option<Vec<u8>>> {
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    returned_bytes("proxy_get_header_map_value", |data, size| unsafe {
        abi::proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), data, size)
    })
}

/// The whole map, serialized as the ABI defines it (see [the map codec](crate::abi::pairs)).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn serialized(map: MapType) -> HostResult<Vec<u8>> {
    Ok(
        // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
        returned_bytes("proxy_get_header_map_pairs", |data, size| unsafe {
            abi::proxy_get_header_map_pairs(map as u32, data, size)
        })?
        .unwrap_or_default(),
    )
}

/// Every pair of the map, in order.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn pairs(map: MapType) -> HostResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let bytes = serialized(map)?;
    let decoded = pairs::decode(&bytes).map_err(|_| malformed())?;
    Ok(decoded
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect())
}

/// The error for a map the host serialized wrongly.
pub(crate) fn malformed() -> super::HostError {
    super::HostError {
        call: "proxy_get_header_map_pairs",
        status: crate::abi::Status::SerializationFailure,
    }
}

/// Replaces the whole map.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn set_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    map: MapType,
    new_pairs: &[(K, V)],
) -> HostResult<()> {
    let bytes = pairs::encode(new_pairs);
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_set_header_map_pairs", unsafe {
        abi::proxy_set_header_map_pairs(map as u32, bytes.as_ptr(), bytes.len())
    })
}

/// Sets `name` to exactly `value`, replacing any values it had.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn replace(map: MapType, name: &[u8], value: &[u8]) -> HostResult<()> {
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_replace_header_map_value", unsafe {
        abi::proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Adds a value for `name`, keeping the values it had.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn add(map: MapType, name: &[u8], value: &[u8]) -> HostResult<()> {
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_add_header_map_value", unsafe {
        abi::proxy_add_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Removes every value of `name`; removing an absent header is not an error.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn remove(map: MapType, name: &[u8]) -> HostResult<()> {
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_remove_header_map_value", unsafe {
        abi::proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len())
    })
}

/// The serialized size of the map (a cheap way to tell an empty map).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn serialized_size(map: MapType) -> HostResult<usize> {
    let mut size = 0usize;
    // SAFETY: each pointer is a live slice's or a local's, valid for the whole call, with its length beside it; the host touches nothing else.
    check("proxy_get_header_map_size", unsafe {
        abi::proxy_get_header_map_size(map as u32, &mut size)
    })?;
    Ok(size)
}
