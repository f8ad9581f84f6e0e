//! Safe host operations: every call returns a `Result`, none panics on a host status.
//!
//! This layer is thin: it encodes arguments, checks the status and takes ownership of
//! memory the host returns. Filters normally reach it through the phase objects their
//! callbacks receive (see [`filter`](crate::filter)); it is public for what those do not
//! cover yet.
//!
//! ```no_run
//! use envoy_wasm_sdk::abi::MapType;
//! use envoy_wasm_sdk::host;
//!
//! fn tag_request() -> Result<(), host::HostError> {
//!     if host::headers::get(MapType::HttpRequestHeaders, b"x-request-id")?.is_none() {
//!         host::headers::replace(MapType::HttpRequestHeaders, b"x-request-id", b"generated")?;
//!     }
//!     Ok(())
//! }
//! ```

use crate::abi::Status;
use std::fmt;

pub mod buffers;
pub mod callouts;
pub mod context;
pub mod foreign;
pub mod headers;
pub mod log;
pub mod metrics;
pub mod properties;
pub mod shared;
pub mod stream;
pub mod time;

/// A host function answered with a status other than `Ok` (or one the call does not expect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostError {
    /// The host function, such as `proxy_get_header_map_value`.
    pub call: &'static str,
    /// What it answered.
    pub status: Status,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {:?}", self.call, self.status)?;
        if cfg!(all(feature = "dynamic-module", not(target_arch = "wasm32")))
            && self.status == crate::abi::Status::Unimplemented
        {
            f.write_str(" (Envoy's dynamic modules have no counterpart; see the SDK's README, \"Native target\")")?;
        }
        Ok(())
    }
}

impl std::error::Error for HostError {}

/// Result of a host operation.
pub type HostResult<T> = Result<T, HostError>;

/// Turns a raw status into `Ok(())` or a [`HostError`] naming `call`.
pub(crate) fn check(call: &'static str, raw: u32) -> HostResult<()> {
    match Status::from_raw(raw) {
        Status::Ok => Ok(()),
        status => Err(HostError { call, status }),
    }
}

/// Like [`check`], but maps `NotFound` (and `Empty`) to `Ok(None)`.
pub(crate) fn check_found(call: &'static str, raw: u32) -> HostResult<Option<()>> {
    match Status::from_raw(raw) {
        Status::Ok => Ok(Some(())),
        Status::NotFound | Status::Empty => Ok(None),
        status => Err(HostError { call, status }),
    }
}

/// Takes ownership of bytes the host wrote into memory from `proxy_on_memory_allocate`
/// (the safe wrappers of [`abi::imports::safe`](crate::abi::imports::safe) do, for every
/// returned buffer; the runtime's tests check it against its allocator).
#[cfg(test)]
pub(crate) use crate::abi::take_returned;

/// Calls a host function that returns a buffer into the `Vec` it is given (a safe wrapper
/// of [`abi::imports::safe`](crate::abi::imports::safe)).
pub(crate) fn returned_bytes(
    call: &'static str,
    hostcall: impl FnOnce(&mut Vec<u8>) -> u32,
) -> HostResult<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    let status = hostcall(&mut bytes);
    // The status says whether there is a value. An empty one comes as pointer 0 and size
    // 0 (Envoy allocates nothing for it): empty, not absent.
    Ok(check_found(call, status)?.map(|()| bytes))
}
