//! State shared between Envoy's worker threads: key-value data with compare-and-swap, and
//! queues. Each worker runs its own copy of the VM; these live in the host, shared by every
//! VM with the same `vm_id`.
//!
//! Most filters want the typed forms: [`SharedMap`] (values through serde, as JSON) and
//! [`TypedQueue`]. [`SharedData`] and [`SharedQueue`] are the raw bytes underneath.
//!
//! ```
//! use envoy_wasm_sdk::shared::{SharedError, SharedMap};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Default)]
//! struct Visits {
//!     count: u64,
//! }
//!
//! /// Counts a client's visits across every worker; another worker's write in between
//! /// makes `update` read again and retry, so no visit is lost.
//! fn visit(client: &str) -> Result<u64, SharedError> {
//!     let visits: SharedMap<Visits> = SharedMap::new("visits.");
//!     visits.update(client, |current| {
//!         let mut visits = current.unwrap_or_default();
//!         visits.count += 1;
//!         let count = visits.count;
//!         (visits, count)
//!     })
//! }
//! ```
//!
//! # What the host's store does (proxy-wasm ABI 0.2.1, as Envoy implements it)
//! - **Versions.** Every write gives the key a new version (a number unique across keys).
//!   A write that names the version it read fails (`Ok(false)` from [`SharedData::set`])
//!   if anybody wrote since: compare-and-swap. [`SharedMap::update`] is built on it: read,
//!   change, write if unchanged, else read again, up to a bounded number of tries
//!   ([`SharedMap::with_max_tries`]; [`SharedError::Contention`] when they run out).
//! - **Unconditional writes.** A write without a version ([`SharedData::set`] with `None`,
//!   [`SharedMap::set`]) always happens, overwriting whatever is there.
//! - **Creation is not atomic.** For a key that does not exist yet, the host takes any
//!   write, whatever version it names. So when two VMs create the same key at the same
//!   instant, both writes succeed and the later one wins: [`SharedMap::insert_if_absent`]
//!   and the first [`update`](SharedMap::update) of a key can lose to a simultaneous
//!   creation (the window is between one read and one write, microseconds). Once the key
//!   exists, every update is compare-and-swap and nothing is lost. Where even the first
//!   write must count, create the keys at configure time.
//! - **No delete, no expiry, no listing.** A key lives as long as the Envoy process, and
//!   the store's memory grows with every new key. Keep the set of keys bounded: derive
//!   keys from a fixed space (`client-bucket.{hash % 1024}`), reuse keys per time window
//!   (`minute.{minute % 60}`), or keep an index of the keys you made under one key of its
//!   own, with a cap.
//! - **Queues** deliver each item once, to the plugin (in the VM) that registered the
//!   queue, through [`Plugin::on_queue_ready`](crate::Plugin::on_queue_ready). Any VM
//!   that [resolves](SharedQueue::resolve) a queue by its owner's `vm_id` and name can
//!   enqueue.

use crate::host::{HostError, HostResult, shared};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;

/// The host's shared key-value store, raw bytes. See the [module docs](self) for what it
/// guarantees.
#[derive(Debug)]
pub struct SharedData;

impl SharedData {
    /// The value of `key` and its version, or `None`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call.
    pub fn get(key: &str) -> HostResult<Option<(Vec<u8>, u32)>> {
        shared::get_data(key)
    }

    /// Sets `key`. With `Some(version)` (from [`get`](SharedData::get)) the write happens only
    /// if nobody wrote since: `Ok(false)` means somebody did; read again and retry. With
    /// `None` it always happens.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call.
    pub fn set(key: &str, value: &[u8], version: Option<u32>) -> HostResult<bool> {
        shared::set_data(key, value, version)
    }
}

/// Why a typed shared-data or queue operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SharedError {
    /// The host refused the call.
    Host(HostError),
    /// The stored bytes are not a value of the expected type (another type was stored
    /// under the key, or by another version of the plugin).
    Decode {
        /// The full key (or the queue's name).
        key: String,
        /// What serde said.
        message: String,
    },
    /// The value could not be serialized.
    Encode {
        /// The full key (or the queue's name).
        key: String,
        /// What serde said.
        message: String,
    },
    /// Other VMs kept writing the key between this one's read and write, `tries` times.
    Contention {
        /// The full key.
        key: String,
        /// How many times the update was tried.
        tries: u32,
    },
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharedError::Host(error) => write!(f, "shared data: {error}"),
            SharedError::Decode { key, message } => {
                write!(f, "shared data `{key}` does not decode: {message}")
            }
            SharedError::Encode { key, message } => {
                write!(f, "shared data `{key}` does not encode: {message}")
            }
            SharedError::Contention { key, tries } => write!(
                f,
                "shared data `{key}`: other workers wrote it during each of {tries} tries"
            ),
        }
    }
}

impl std::error::Error for SharedError {}

/// A failure while configuring (registering a queue, say) rejects the configuration:
/// `?` works in [`Plugin::configure`](crate::Plugin::configure).
impl From<SharedError> for crate::ConfigError {
    fn from(error: SharedError) -> crate::ConfigError {
        crate::ConfigError::new(error.to_string())
    }
}

impl From<HostError> for SharedError {
    fn from(error: HostError) -> SharedError {
        SharedError::Host(error)
    }
}

/// Typed values in the shared store under one key prefix, as JSON. Cheap to create (it
/// holds only the prefix): make one where needed or keep it in the plugin.
pub struct SharedMap<T> {
    prefix: String,
    max_tries: u32,
    _values: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for SharedMap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMap")
            .field("prefix", &self.prefix)
            .field("max_tries", &self.max_tries)
            .finish()
    }
}

/// How many times [`SharedMap::update`] tries by default.
pub const DEFAULT_MAX_TRIES: u32 = 8;

impl<T: Serialize + DeserializeOwned> SharedMap<T> {
    /// Values stored under keys that start with `prefix` (`"rate_limit.bucket."`).
    pub fn new(prefix: impl Into<String>) -> SharedMap<T> {
        SharedMap {
            prefix: prefix.into(),
            max_tries: DEFAULT_MAX_TRIES,
            _values: PhantomData,
        }
    }

    /// How many times [`update`](SharedMap::update) tries before giving up (at least 1).
    #[must_use]
    pub fn with_max_tries(mut self, tries: u32) -> SharedMap<T> {
        self.max_tries = tries.max(1);
        self
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The value of `key` and its version, or `None`.
    ///
    /// # Errors
    /// [`SharedError::Host`] when Envoy refuses the call, [`SharedError::Decode`] when the
    /// stored bytes are not a `T`.
    pub fn get_versioned(&self, key: &str) -> Result<Option<(T, u32)>, SharedError> {
        let key = self.full_key(key);
        match SharedData::get(&key)? {
            Some((bytes, version)) => Ok(Some((decode(&key, &bytes)?, version))),
            None => Ok(None),
        }
    }

    /// The value of `key`, or `None`.
    ///
    /// # Errors
    /// As [`get_versioned`](SharedMap::get_versioned).
    pub fn get(&self, key: &str) -> Result<Option<T>, SharedError> {
        Ok(self.get_versioned(key)?.map(|(value, _)| value))
    }

    /// Writes `value` unconditionally, whatever another VM wrote before.
    ///
    /// # Errors
    /// [`SharedError::Host`] when Envoy refuses the call, [`SharedError::Encode`] when
    /// `value` does not serialize.
    pub fn set(&self, key: &str, value: &T) -> Result<(), SharedError> {
        let key = self.full_key(key);
        SharedData::set(&key, &encode(&key, value)?, None)?;
        Ok(())
    }

    /// Writes `value` only if `key` has none; `Ok(true)` if it wrote. Two VMs creating the
    /// same key at the same instant may both write (see [creation](self#what-the-hosts-store-does-proxy-wasm-abi-021-as-envoy-implements-it)).
    ///
    /// # Errors
    /// As [`set`](SharedMap::set).
    pub fn insert_if_absent(&self, key: &str, value: &T) -> Result<bool, SharedError> {
        let key = self.full_key(key);
        if SharedData::get(&key)?.is_some() {
            return Ok(false);
        }
        SharedData::set(&key, &encode(&key, value)?, None)?;
        Ok(true)
    }

    /// Reads `key`, lets `change` compute the new value (from `None` if there is none) and
    /// something to return, and writes the value if nobody wrote since the read. If
    /// somebody did, it reads again and calls `change` again, up to the
    /// [maximum tries](SharedMap::with_max_tries). Returns what the successful `change`
    /// returned.
    ///
    /// # Errors
    /// [`SharedError::Contention`] when other VMs wrote the key during every try; the other
    /// [`SharedError`]s as [`get_versioned`](SharedMap::get_versioned) and
    /// [`set`](SharedMap::set).
    pub fn update<R>(
        &self,
        key: &str,
        mut change: impl FnMut(Option<T>) -> (T, R),
    ) -> Result<R, SharedError> {
        let key = self.full_key(key);
        for _ in 0..self.max_tries {
            let (current, version) = match SharedData::get(&key)? {
                Some((bytes, version)) => (Some(decode(&key, &bytes)?), Some(version)),
                None => (None, None),
            };
            let (value, result) = change(current);
            // A key that does not exist yet takes any write (see the module docs).
            if SharedData::set(&key, &encode(&key, &value)?, version)? {
                return Ok(result);
            }
        }
        Err(SharedError::Contention {
            key,
            tries: self.max_tries,
        })
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, SharedError> {
    serde_json::from_slice(bytes).map_err(|error| SharedError::Decode {
        key: key.to_owned(),
        message: error.to_string(),
    })
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, SharedError> {
    serde_json::to_vec(value).map_err(|error| SharedError::Encode {
        key: key.to_owned(),
        message: error.to_string(),
    })
}

/// A queue shared between VMs, raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedQueue {
    id: u32,
}

impl SharedQueue {
    /// Creates (or opens) queue `name` of this VM. Register it while configuring: the
    /// plugin's [`on_queue_ready`](crate::Plugin::on_queue_ready) is called when items arrive.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call: on the
    /// native target, `Unimplemented` unless a [service](crate::service) registers it.
    pub fn register(name: &str) -> HostResult<SharedQueue> {
        shared::register_queue(name).map(|id| SharedQueue { id })
    }

    /// Finds queue `name` registered by VM `vm_id`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call.
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
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call.
    pub fn enqueue(&self, item: &[u8]) -> HostResult<()> {
        shared::enqueue(self.id, item)
    }

    /// Takes the first item; `None` when the queue is empty.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`]) when Envoy refuses the call.
    pub fn dequeue(&self) -> HostResult<Option<Vec<u8>>> {
        shared::dequeue(self.id)
    }
}

/// A [`SharedQueue`] of typed items, as JSON.
pub struct TypedQueue<T> {
    queue: SharedQueue,
    _items: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for TypedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedQueue")
            .field("id", &self.queue.id)
            .finish()
    }
}

impl<T> Clone for TypedQueue<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for TypedQueue<T> {}

impl<T: Serialize + DeserializeOwned> TypedQueue<T> {
    /// The typed view of `queue`.
    pub fn new(queue: SharedQueue) -> TypedQueue<T> {
        TypedQueue {
            queue,
            _items: PhantomData,
        }
    }

    /// Creates (or opens) queue `name` of this VM (see [`SharedQueue::register`]).
    ///
    /// # Errors
    /// [`SharedError::Host`] when Envoy refuses the call.
    pub fn register(name: &str) -> Result<TypedQueue<T>, SharedError> {
        Ok(TypedQueue::new(SharedQueue::register(name)?))
    }

    /// Finds queue `name` registered by VM `vm_id` (see [`SharedQueue::resolve`]).
    ///
    /// # Errors
    /// [`SharedError::Host`] when Envoy refuses the call.
    pub fn resolve(vm_id: &str, name: &str) -> Result<Option<TypedQueue<T>>, SharedError> {
        Ok(SharedQueue::resolve(vm_id, name)?.map(TypedQueue::new))
    }

    /// The raw queue underneath.
    pub fn raw(&self) -> SharedQueue {
        self.queue
    }

    /// Appends an item.
    ///
    /// # Errors
    /// [`SharedError::Encode`] when `item` does not serialize; [`SharedError::Host`] when
    /// Envoy refuses the call.
    pub fn enqueue(&self, item: &T) -> Result<(), SharedError> {
        let bytes = encode("queue", item)?;
        Ok(self.queue.enqueue(&bytes)?)
    }

    /// Takes the first item; `None` when the queue is empty.
    ///
    /// # Errors
    /// [`SharedError::Decode`] when the item is not a `T` (it is consumed all the same);
    /// [`SharedError::Host`] when Envoy refuses the call.
    pub fn dequeue(&self) -> Result<Option<T>, SharedError> {
        match self.queue.dequeue()? {
            Some(bytes) => Ok(Some(decode("queue", &bytes)?)),
            None => Ok(None),
        }
    }
}
