//! Shared data, process-wide (shared queues the dynamic-module ABI lacks).

use super::*;

/// The module's shared data: process-wide, as Envoy keeps it for every VM of a module.
static SHARED: Mutex<Option<SharedData>> = Mutex::new(None);

/// Shared data: each key's value and version (its `cas`).
type SharedData = HashMap<Vec<u8>, (Vec<u8>, u32)>;

impl SharedDataHost for NativeHost {
    fn proxy_get_shared_data(&self, call: proxy_get_shared_data::Args<'_>) -> u32 {
        let Ok(shared) = SHARED.lock() else {
            return INTERNAL_FAILURE;
        };
        match shared.as_ref().and_then(|map| map.get(call.key)) {
            Some((value, cas)) => {
                *call.return_value = value.clone();
                *call.return_cas = *cas;
                OK
            }
            None => NOT_FOUND,
        }
    }

    fn proxy_set_shared_data(&self, call: proxy_set_shared_data::Args<'_>) -> u32 {
        let Ok(mut shared) = SHARED.lock() else {
            return INTERNAL_FAILURE;
        };
        let map = shared.get_or_insert_with(HashMap::new);
        // As Envoy: a non-zero cas must match the key's version, if the key exists.
        let version = match map.get(call.key) {
            Some((_, version)) if call.cas != 0 && call.cas != *version => {
                return Status::CasMismatch.raw();
            }
            Some((_, version)) => version.wrapping_add(1).max(1),
            None => 1,
        };
        map.insert(call.key.to_vec(), (call.value.to_vec(), version));
        OK
    }
}

impl SharedQueueHost for NativeHost {}
