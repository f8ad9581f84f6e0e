//! Header maps: headers, trailers, callout and gRPC metadata.

use super::{HostResult, check, returned_bytes};
use crate::abi::{HeaderWrite, MapType, Via, imports::safe as abi, pairs};

/// The value of `name` (of a repeated header, its first value, as Envoy 1.40 answers), or
/// `None` if absent.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn get(map: MapType, name: &[u8]) -> HostResult<Option<Vec<u8>>> {
    value(Via::HOST, map, name)
}

/// What a header value the host hands over is kept as: built from the copy the proxy-wasm
/// ABI makes (on wasm), or from the host's own bytes, borrowed for the call (natively).
pub(crate) trait FromHost {
    /// From the copy the ABI made.
    fn from_copy(bytes: Vec<u8>) -> Self;
    /// From the host's bytes, borrowed.
    fn from_borrowed(bytes: &[u8]) -> Self;
}

impl FromHost for Vec<u8> {
    fn from_copy(bytes: Vec<u8>) -> Self {
        bytes
    }

    fn from_borrowed(bytes: &[u8]) -> Self {
        bytes.to_vec()
    }
}

/// [`get`] `via` a route, kept as `T`: natively straight from Envoy's bytes, borrowed.
pub(crate) fn value<T: FromHost>(via: Via, map: MapType, name: &[u8]) -> HostResult<Option<T>> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut kept = None;
        #[cfg(feature = "dynamic-module")]
        if let Some((stream, map)) = via.direct(map) {
            let status = stream.header(map, name, |bytes| kept = Some(T::from_borrowed(bytes)));
            return Ok(super::check_found("proxy_get_header_map_value", status)?.and(kept));
        }
        let lent = crate::abi::imports::header_value_with(map as u32, name, &mut |bytes| {
            kept = Some(T::from_borrowed(bytes));
        });
        if let Some(status) = lent {
            return Ok(super::check_found("proxy_get_header_map_value", status)?.and(kept));
        }
    }
    let _ = via;
    Ok(returned_bytes("proxy_get_header_map_value", |data| {
        abi::proxy_get_header_map_value(map as u32, name, data)
    })?
    .map(T::from_copy))
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

/// Every pair of the map, packed, where the host hands them over directly (natively: from
/// Envoy's own map, with no serialized copy); `None` where it does not (on wasm, always),
/// and the caller reads [`serialized`].
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn packed(map: MapType) -> HostResult<Option<pairs::Packed>> {
    packed_via(Via::HOST, map)
}

/// [`packed`] `via` a route.
pub(crate) fn packed_via(via: Via, map: MapType) -> HostResult<Option<pairs::Packed>> {
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    if let Some((stream, map)) = via.direct(map) {
        let (status, packed) = stream.packed(map);
        return check("proxy_get_header_map_pairs", status).map(|()| Some(packed));
    }
    let _ = via;
    #[cfg(not(target_arch = "wasm32"))]
    if let Some((status, packed)) = crate::abi::imports::header_map_packed(map as u32) {
        return check("proxy_get_header_map_pairs", status).map(|()| Some(packed));
    }
    let _ = map;
    Ok(None)
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
    set_pairs_via(Via::HOST, map, new_pairs)
}

/// [`set_pairs`] `via` a route.
pub(crate) fn set_pairs_via<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    via: Via,
    map: MapType,
    new_pairs: &[(K, V)],
) -> HostResult<()> {
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    if let Some((stream, map)) = via.direct(map) {
        return check(
            "proxy_set_header_map_pairs",
            stream.set_pairs(map, new_pairs),
        );
    }
    let _ = via;
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
    write(Via::HOST, map, name, HeaderWrite::Replace(value))
}

/// Adds a value for `name`, keeping the values it had.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn add(map: MapType, name: &[u8], value: &[u8]) -> HostResult<()> {
    write(Via::HOST, map, name, HeaderWrite::Add(value))
}

/// Removes every value of `name`; removing an absent header is not an error.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn remove(map: MapType, name: &[u8]) -> HostResult<()> {
    write(Via::HOST, map, name, HeaderWrite::Remove)
}

/// Writes header `name` of `map`, `via` a route.
pub(crate) fn write(via: Via, map: MapType, name: &[u8], write: HeaderWrite<'_>) -> HostResult<()> {
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    if let Some((stream, map)) = via.direct(map) {
        return check(write.call(), stream.write_header(map, name, write));
    }
    let _ = via;
    let map = map as u32;
    let status = match write {
        HeaderWrite::Replace(value) => abi::proxy_replace_header_map_value(map, name, value),
        HeaderWrite::Add(value) => abi::proxy_add_header_map_value(map, name, value),
        HeaderWrite::Remove => abi::proxy_remove_header_map_value(map, name),
    };
    check(write.call(), status)
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
