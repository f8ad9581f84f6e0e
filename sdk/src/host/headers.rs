//! Header maps: headers, trailers, callout and gRPC metadata.

use super::{HostResult, check, returned_bytes};
use crate::abi::{MapType, imports::safe as abi, pairs};

/// The value of `name` (of a repeated header, its first value, as Envoy 1.40 answers), or
/// `None` if absent.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn get(map: MapType, name: &[u8]) -> HostResult<Option<Vec<u8>>> {
    returned_bytes("proxy_get_header_map_value", |data| {
        abi::proxy_get_header_map_value(map as u32, name, data)
    })
}

/// The whole map, serialized as the ABI defines it (see [the map codec](crate::abi::pairs)).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn serialized(map: MapType) -> HostResult<Vec<u8>> {
    Ok(returned_bytes("proxy_get_header_map_pairs", |data| {
        abi::proxy_get_header_map_pairs(map as u32, data)
    })?
    .unwrap_or_default())
}

/// Gives `sink` every pair of the map, in order, where the host hands them over directly
/// (natively: from Envoy's own map, with no serialized copy); `false` where it does not
/// (on wasm, always), and the caller reads [`serialized`].
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn pairs_into(map: MapType, sink: &mut dyn pairs::Sink) -> HostResult<bool> {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(status) = crate::abi::imports::header_map_pairs_into(map as u32, sink) {
        return check("proxy_get_header_map_pairs", status).map(|()| true);
    }
    let _ = (map, sink);
    Ok(false)
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
    check(
        "proxy_set_header_map_pairs",
        abi::proxy_set_header_map_pairs(map as u32, &bytes),
    )
}

/// Sets `name` to exactly `value`, replacing any values it had.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn replace(map: MapType, name: &[u8], value: &[u8]) -> HostResult<()> {
    check(
        "proxy_replace_header_map_value",
        abi::proxy_replace_header_map_value(map as u32, name, value),
    )
}

/// Adds a value for `name`, keeping the values it had.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn add(map: MapType, name: &[u8], value: &[u8]) -> HostResult<()> {
    check(
        "proxy_add_header_map_value",
        abi::proxy_add_header_map_value(map as u32, name, value),
    )
}

/// Removes every value of `name`; removing an absent header is not an error.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn remove(map: MapType, name: &[u8]) -> HostResult<()> {
    check(
        "proxy_remove_header_map_value",
        abi::proxy_remove_header_map_value(map as u32, name),
    )
}

/// The serialized size of the map (a cheap way to tell an empty map).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn serialized_size(map: MapType) -> HostResult<usize> {
    let mut size = 0usize;
    check(
        "proxy_get_header_map_size",
        abi::proxy_get_header_map_size(map as u32, &mut size),
    )?;
    Ok(size)
}
