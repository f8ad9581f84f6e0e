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

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
