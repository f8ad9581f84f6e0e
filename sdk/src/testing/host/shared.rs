//! Shared data (with CAS) and shared queues.

use super::*;

impl SharedDataHost for EmulatorHost {
    fn proxy_get_shared_data(&self, call: proxy_get_shared_data::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        let read = state.shared_data.get(call.key).cloned();
        state.interfere_after_read(call.key);
        let Some((value, cas)) = read else {
            return NOT_FOUND;
        };
        *call.return_value = value;
        *call.return_cas = cas;
        OK
    }

    fn proxy_set_shared_data(&self, call: proxy_set_shared_data::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        // As Envoy: a non-zero cas must match the key's version, if the key exists; a key
        // that does not exist takes any write.
        if let Some((_, version)) = state.shared_data.get(call.key)
            && call.cas != 0
            && call.cas != *version
        {
            return Status::CasMismatch.raw();
        }
        state.write_shared(call.key, call.value.to_vec());
        OK
    }
}

impl State {
    /// Writes shared data `key` with a new version.
    pub(crate) fn write_shared(&mut self, key: &[u8], value: Vec<u8>) {
        self.shared_version = self.shared_version.wrapping_add(1).max(1);
        let version = self.shared_version;
        self.shared_data.insert(key.to_vec(), (value, version));
    }

    /// Makes the write another worker is scripted to make right after a read of `key`.
    fn interfere_after_read(&mut self, key: &[u8]) {
        let Some((value, remaining)) = self.interfering_writes.get_mut(key) else {
            return;
        };
        let value = value.clone();
        *remaining -= 1;
        if *remaining == 0 {
            self.interfering_writes.remove(key);
        }
        self.write_shared(key, value);
    }
}

impl SharedQueueHost for EmulatorHost {
    fn proxy_register_shared_queue(&self, call: proxy_register_shared_queue::Args<'_>) -> u32 {
        let name = String::from_utf8_lossy(call.name).into_owned();
        let mut state = self.state.borrow_mut();
        let owner = state.effective_context;
        let vm_id = state.vm_id.clone();
        let id = match state
            .queues
            .iter()
            .position(|q| q.vm_id == vm_id && q.name == name)
        {
            Some(index) => {
                state.queues[index].owner = owner;
                index
            }
            None => {
                state.queues.push(Queue {
                    vm_id,
                    name,
                    owner,
                    items: VecDeque::new(),
                });
                state.queues.len() - 1
            }
        };
        *call.return_id = id as u32 + 1;
        OK
    }

    fn proxy_resolve_shared_queue(&self, call: proxy_resolve_shared_queue::Args<'_>) -> u32 {
        let state = self.state.borrow();
        let found = state
            .queues
            .iter()
            .position(|q| q.vm_id.as_bytes() == call.vm_id && q.name.as_bytes() == call.name);
        match found {
            Some(index) => {
                *call.return_id = index as u32 + 1;
                OK
            }
            None => NOT_FOUND,
        }
    }

    fn proxy_enqueue_shared_queue(&self, call: proxy_enqueue_shared_queue::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(queue) = state.queue(call.queue_id) else {
            return NOT_FOUND;
        };
        queue.items.push_back(call.value.to_vec());
        let owner = queue.owner;
        state.ready_queues.push((owner, call.queue_id));
        OK
    }

    fn proxy_dequeue_shared_queue(&self, call: proxy_dequeue_shared_queue::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(queue) = state.queue(call.queue_id) else {
            return NOT_FOUND;
        };
        let Some(item) = queue.items.pop_front() else {
            return Status::Empty.raw();
        };
        *call.return_value = item;
        OK
    }
}

impl State {
    /// Queue ids are 1-based positions in the list.
    fn queue(&mut self, id: u32) -> Option<&mut Queue> {
        self.queues.get_mut((id as usize).wrapping_sub(1))
    }
}
