//! Envoy's foreign functions (`proxy_call_foreign_function`), typed: what Envoy offers a
//! Wasm filter beyond the ABI.
//!
//! ```no_run
//! use envoy_wasm_sdk::foreign::{self, LifeSpan};
//! use envoy_wasm_sdk::prelude::*;
//!
//! fn send_to_v2<F: 'static>(req: &mut RequestHeadersOps<F>) -> Result<(), Error> {
//!     req.headers().set(":path", "/v2/api")?;
//!     // The route was chosen before this filter ran: choose again for the new path.
//!     foreign::clear_route_cache()?;
//!     foreign::set_filter_state("envoy.string", "v2", LifeSpan::DownstreamRequest)?;
//!     Ok(())
//! }
//! ```

use crate::host::{self, HostResult};

/// Calls Envoy's foreign function `name` with `arguments` (as that function encodes them);
/// what it returns, if anything. Envoy 1.40 offers `compress`, `uncompress`,
/// `set_envoy_filter_state`, `declare_property`, `clear_route_cache`, `verify_signature`,
/// `sign` and the `expr_*` functions; an unknown name is refused with `NotFound`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn call(name: &str, arguments: &[u8]) -> HostResult<Option<Vec<u8>>> {
    host::foreign::call(name, arguments)
}

/// [`call`] with protobuf messages (feature `prost`): `arguments` encoded, the result
/// decoded as `R` (its default when the function returns nothing); `None` when the result
/// does not decode as `R`.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
#[cfg(feature = "prost")]
pub fn call_message<R: prost::Message + Default>(
    name: &str,
    arguments: &impl prost::Message,
) -> HostResult<Option<R>> {
    let result = call(name, &arguments.encode_to_vec())?.unwrap_or_default();
    Ok(R::decode(result.as_slice()).ok())
}

/// Makes Envoy choose the route again (after a filter changed what routing looks at, such
/// as `:path` or `:authority`).
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn clear_route_cache() -> HostResult<()> {
    host::foreign::call("clear_route_cache", &[]).map(|_| ())
}

/// How long a filter state value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifeSpan {
    /// As long as the filter chain.
    FilterChain,
    /// As long as the downstream request.
    DownstreamRequest,
    /// As long as the downstream connection.
    DownstreamConnection,
}

/// Sets Envoy filter state `key` (a key Envoy has an object factory for, such as
/// `envoy.string`) to `value`, for other filters, access logs (`%FILTER_STATE(key)%`) and
/// the `filter_state` attribute.
///
/// # Errors
/// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
pub fn set_filter_state(key: &str, value: &str, span: LifeSpan) -> HostResult<()> {
    // `SetEnvoyFilterStateArguments { string path = 1; string value = 2; LifeSpan span = 3; }`
    let mut arguments = Vec::with_capacity(key.len() + value.len() + 12);
    for (field, text) in [(1u8, key), (2, value)] {
        arguments.push(field << 3 | 2);
        varint(text.len() as u64, &mut arguments);
        arguments.extend_from_slice(text.as_bytes());
    }
    let span = match span {
        LifeSpan::FilterChain => 0,
        LifeSpan::DownstreamRequest => 1,
        LifeSpan::DownstreamConnection => 2,
    };
    if span != 0 {
        arguments.extend_from_slice(&[3 << 3, span]);
    }
    host::foreign::call("set_envoy_filter_state", &arguments).map(|_| ())
}

/// The key and value of `SetEnvoyFilterStateArguments` (fields 1 and 2), as
/// [`set_filter_state`] encodes them, for a host to act on; `None` when malformed.
#[cfg(all(
    any(test, feature = "testing", feature = "dynamic-module"),
    not(target_arch = "wasm32")
))]
pub(crate) fn filter_state_arguments(mut bytes: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (mut key, mut value) = (Vec::new(), Vec::new());
    while let Some((tag, rest)) = read_varint(bytes) {
        bytes = rest;
        match tag & 7 {
            0 => bytes = read_varint(bytes)?.1,
            2 => {
                let (len, rest) = read_varint(bytes)?;
                let len = usize::try_from(len).ok()?;
                let field = rest.get(..len)?;
                bytes = &rest[len..];
                match tag >> 3 {
                    1 => key = field.to_vec(),
                    2 => value = field.to_vec(),
                    _ => {}
                }
            }
            _ => return None,
        }
    }
    bytes.is_empty().then_some((key, value))
}

/// A varint at the start of `bytes`, and what follows it.
#[cfg(all(
    any(test, feature = "testing", feature = "dynamic-module"),
    not(target_arch = "wasm32")
))]
fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (at, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * at);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[at + 1..]));
        }
    }
    None
}

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

// The decoder serves in-process hosts, off wasm.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn filter_state_arguments_decode_what_set_filter_state_encodes() {
        let value = "v".repeat(300);
        let mut arguments = Vec::new();
        for (field, text) in [(1u8, "envoy.string"), (2, value.as_str())] {
            arguments.push(field << 3 | 2);
            varint(text.len() as u64, &mut arguments);
            arguments.extend_from_slice(text.as_bytes());
        }
        arguments.extend_from_slice(&[3 << 3, 1]);
        assert_eq!(
            filter_state_arguments(&arguments),
            Some((b"envoy.string".to_vec(), value.into_bytes()))
        );
        assert_eq!(
            filter_state_arguments(&[1 << 3 | 2, 5, b'a']),
            None,
            "cut short"
        );
    }
}
