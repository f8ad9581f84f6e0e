//! Random bytes and numbers from the host's source: on wasm, WASI's `random_get`, which
//! Envoy serves from its own generator; natively, the operating system's. For tokens,
//! sampling decisions, jitter.
//!
//! ```
//! use envoy_wasm_sdk::random;
//!
//! let mut nonce = [0u8; 16];
//! random::fill(&mut nonce).unwrap();
//! // Sample one request in a hundred.
//! let sampled = random::u64().unwrap() % 100 == 0;
//! # let _ = sampled;
//! ```

use crate::host::{HostError, HostResult};

/// Fills `bytes` with random bytes.
///
/// # Errors
/// [`HostError`] (`random_get`, `InternalFailure`) when the host has no random source.
pub fn fill(bytes: &mut [u8]) -> HostResult<()> {
    getrandom::fill(bytes).map_err(|_| HostError {
        call: "random_get",
        status: crate::abi::Status::InternalFailure,
    })
}

/// A random `u64`.
///
/// # Errors
/// As [`fill`].
pub fn u64() -> HostResult<u64> {
    let mut bytes = [0u8; 8];
    fill(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}
