//! The body of the current stream, as the host has it in this callback.

use crate::abi::BufferType;
use crate::host::{self, HostResult};
use std::ops::{Bound, RangeBounds};

/// The request or response body the host holds now.
///
/// In a body callback this is the chunk that just arrived, or, when an earlier body
/// callback returned [`Action::Pause`](crate::Action::Pause), everything buffered so far.
/// The phase object lends it out (`&mut Body`) for the callback only:
///
/// ```compile_fail
/// use envoy_wasm_sdk::prelude::*;
///
/// struct Keeper {
///     kept: Option<&'static mut Body>,
/// }
///
/// #[http_filter]
/// impl HttpFilter for Keeper {
///     fn on_request_body(&mut self, ops: &mut RequestBodyOps<Self>) -> Result<Action, Error> {
///         self.kept = Some(ops.body()); // error: `ops` escapes the callback
///         Ok(Action::Continue)
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Body {
    buffer: BufferType,
    size: usize,
}

impl Body {
    pub(crate) const fn new(buffer: BufferType, size: usize) -> Body {
        Body { buffer, size }
    }

    /// Bytes available now.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether no bytes are available now.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Reads a range of the available bytes (clamped to what is there).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn read(&self, range: impl RangeBounds<usize>) -> HostResult<Vec<u8>> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .min(self.size);
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.size,
        }
        .clamp(start, self.size);
        if start == end {
            return Ok(Vec::new());
        }
        Ok(host::buffers::get(self.buffer, start, end - start)?.unwrap_or_default())
    }

    /// Reads every available byte.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn read_all(&self) -> HostResult<Vec<u8>> {
        self.read(..)
    }

    /// Replaces every available byte with `data`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn replace(&mut self, data: &[u8]) -> HostResult<()> {
        host::buffers::set(self.buffer, 0, self.size, data)?;
        self.size = data.len();
        Ok(())
    }

    /// Appends `data` after the available bytes.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn append(&mut self, data: &[u8]) -> HostResult<()> {
        host::buffers::set(self.buffer, self.size, 0, data)?;
        self.size += data.len();
        Ok(())
    }

    /// Inserts `data` before the available bytes.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn prepend(&mut self, data: &[u8]) -> HostResult<()> {
        host::buffers::set(self.buffer, 0, 0, data)?;
        self.size += data.len();
        Ok(())
    }
}
