//! Shared data and shared queues, process-wide (the module's memory is the process's).
//!
//! A queue is registered by a service (a bootstrap extension, on the main thread) under
//! its `vm_id`, which natively is its name (`extension_name`); any thread resolves and
//! enqueues to it, and each item wakes the service through its configuration's scheduler.
//! A filter's plugin lives on every worker, where nothing can wake it: its registration
//! answers `Unimplemented`.

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

/// The module's shared queues; a queue's id is its index plus one.
static QUEUES: Mutex<Vec<Queue>> = Mutex::new(Vec::new());

/// A shared queue: who registered it, its items, and the scheduler that wakes its owner.
struct Queue {
    vm_id: Vec<u8>,
    name: Vec<u8>,
    items: std::collections::VecDeque<Vec<u8>>,
    /// The owner's scheduler (an Envoy pointer, as an address).
    scheduler: usize,
}

impl SharedQueueHost for NativeHost {
    fn proxy_register_shared_queue(&self, call: proxy_register_shared_queue::Args<'_>) -> u32 {
        let Some(plugin) = self.service() else {
            return UNIMPLEMENTED;
        };
        let Ok(mut queues) = QUEUES.lock() else {
            return INTERNAL_FAILURE;
        };
        let vm_id = plugin.name.as_bytes();
        let at = match queues
            .iter()
            .position(|q| q.vm_id == vm_id && q.name == call.name)
        {
            Some(at) => at,
            None => {
                queues.push(Queue {
                    vm_id: vm_id.to_vec(),
                    name: call.name.to_vec(),
                    items: std::collections::VecDeque::new(),
                    scheduler: 0,
                });
                queues.len() - 1
            }
        };
        queues[at].scheduler = plugin.scheduler;
        *call.return_id = at as u32 + 1;
        OK
    }

    fn proxy_resolve_shared_queue(&self, call: proxy_resolve_shared_queue::Args<'_>) -> u32 {
        let Ok(queues) = QUEUES.lock() else {
            return INTERNAL_FAILURE;
        };
        match queues
            .iter()
            .position(|q| q.vm_id == call.vm_id && q.name == call.name)
        {
            Some(at) => {
                *call.return_id = at as u32 + 1;
                OK
            }
            None => NOT_FOUND,
        }
    }

    fn proxy_enqueue_shared_queue(&self, call: proxy_enqueue_shared_queue::Args<'_>) -> u32 {
        let scheduler = {
            let Ok(mut queues) = QUEUES.lock() else {
                return INTERNAL_FAILURE;
            };
            let Some(queue) = queues.get_mut((call.queue_id as usize).wrapping_sub(1)) else {
                return NOT_FOUND;
            };
            queue.items.push_back(call.value.to_vec());
            queue.scheduler
        };
        if scheduler != 0 {
            // One wake-up per item, as Envoy posts one `proxy_on_queue_ready` per enqueue.
            envoy!(bootstrap_extension_config_scheduler_commit(
                scheduler as dm::BootstrapSchedulerPtr,
                u64::from(call.queue_id)
            ));
        }
        OK
    }

    fn proxy_dequeue_shared_queue(&self, call: proxy_dequeue_shared_queue::Args<'_>) -> u32 {
        let Ok(mut queues) = QUEUES.lock() else {
            return INTERNAL_FAILURE;
        };
        let Some(queue) = queues.get_mut((call.queue_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        match queue.items.pop_front() {
            Some(item) => {
                *call.return_value = item;
                OK
            }
            None => Status::Empty.raw(),
        }
    }
}
