//! State shared between Envoy's worker threads: key-value data with compare-and-swap, and
//! queues. Each worker runs its own copy of the VM; these live in the host, shared by every
//! VM with the same `vm_id`.
//!
//! ```
//! use envoy_wasm_sdk::shared::SharedData;
//! use envoy_wasm_sdk::HostResult;
//!
//! /// Adds one to a counter every worker shares, retrying if another worker wrote first.
//! fn bump(key: &str) -> HostResult<u64> {
//!     loop {
//!         let (value, version) = match SharedData::get(key)? {
//!             Some((bytes, version)) => (bytes.try_into().map(u64::from_le_bytes).unwrap_or(0), Some(version)),
//!             None => (0, None),
//!         };
//!         if SharedData::set(key, &(value + 1).to_le_bytes(), version)? {
//!             return Ok(value + 1);
//!         }
//!     }
//! }
//! ```

use crate::host::{HostResult, shared};

/// The host's shared key-value store.
#[derive(Debug)]
pub struct SharedData;

impl SharedData {
    /// The value of `key` and its version, or `None`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get(key: &str) -> HostResult<Option<(Vec<u8>, u32)>> {
        shared::get_data(key)
    }

    /// Sets `key`. With `Some(version)` (from [`get`](SharedData::get)) the write happens only
    /// if nobody wrote since: `Ok(false)` means somebody did; read again and retry.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn set(key: &str, value: &[u8], version: Option<u32>) -> HostResult<bool> {
        shared::set_data(key, value, version)
    }
}

/// A queue shared between VMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedQueue {
    id: u32,
}

impl SharedQueue {
    /// Creates (or opens) queue `name` of this VM. Register it while configuring: the
    /// plugin's [`on_queue_ready`](crate::Plugin::on_queue_ready) is called when items arrive.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn register(name: &str) -> HostResult<SharedQueue> {
        shared::register_queue(name).map(|id| SharedQueue { id })
    }

    /// Finds queue `name` registered by VM `vm_id`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn resolve(vm_id: &str, name: &str) -> HostResult<Option<SharedQueue>> {
        Ok(shared::resolve_queue(vm_id, name)?.map(|id| SharedQueue { id }))
    }

    pub(crate) const fn from_id(id: u32) -> SharedQueue {
        SharedQueue { id }
    }

    /// The host's id of the queue.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Appends an item.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn enqueue(&self, item: &[u8]) -> HostResult<()> {
        shared::enqueue(self.id, item)
    }

    /// Takes the first item; `None` when the queue is empty.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn dequeue(&self) -> HostResult<Option<Vec<u8>>> {
        shared::dequeue(self.id)
    }
}
