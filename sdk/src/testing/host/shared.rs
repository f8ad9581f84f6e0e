//! Shared data (with CAS) and shared queues.

use super::*;

impl SharedDataHost for EmulatorHost {
    unsafe fn proxy_get_shared_data(
        &self,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = unsafe { bytes(key_data, key_size) };
        let Some((value, cas)) = self.state.borrow().shared_data.get(key).cloned() else {
            return NOT_FOUND;
        };
        // SAFETY: the out-params point to the caller's locals, valid for writes.
        unsafe {
            give(&value, return_value_data, return_value_size);
            *return_cas = cas;
        }
        OK
    }

    unsafe fn proxy_set_shared_data(
        &self,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = unsafe { bytes(key_data, key_size) }.to_vec();
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let value = unsafe { bytes(value_data, value_size) }.to_vec();
        let mut state = self.state.borrow_mut();
        let entry = state.shared_data.entry(key).or_insert((Vec::new(), 0));
        // A non-zero cas must match the version last read; every write bumps the version.
        if cas != 0 && cas != entry.1 {
            return Status::CasMismatch.raw();
        }
        *entry = (value, entry.1.wrapping_add(1).max(1));
        OK
    }
}

impl SharedQueueHost for EmulatorHost {
    unsafe fn proxy_register_shared_queue(
        &self,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let name = String::from_utf8_lossy(unsafe { bytes(name_data, name_size) }).into_owned();
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
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_id = id as u32 + 1 };
        OK
    }

    unsafe fn proxy_resolve_shared_queue(
        &self,
        vm_id_data: *const u8,
        vm_id_size: usize,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let vm_id = unsafe { bytes(vm_id_data, vm_id_size) };
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let name = unsafe { bytes(name_data, name_size) };
        let state = self.state.borrow();
        match state
            .queues
            .iter()
            .position(|q| q.vm_id.as_bytes() == vm_id && q.name.as_bytes() == name)
        {
            Some(index) => {
                // SAFETY: the out-param points to the caller's local, valid for one write.
                unsafe { *return_id = index as u32 + 1 };
                OK
            }
            None => NOT_FOUND,
        }
    }

    unsafe fn proxy_enqueue_shared_queue(
        &self,
        queue_id: u32,
        value_data: *const u8,
        value_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let value = unsafe { bytes(value_data, value_size) }.to_vec();
        let mut state = self.state.borrow_mut();
        let Some(queue) = state.queues.get_mut((queue_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        queue.items.push_back(value);
        let owner = queue.owner;
        state.ready_queues.push((owner, queue_id));
        OK
    }

    unsafe fn proxy_dequeue_shared_queue(
        &self,
        queue_id: u32,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(queue) = state.queues.get_mut((queue_id as usize).wrapping_sub(1)) else {
            return NOT_FOUND;
        };
        let Some(item) = queue.items.pop_front() else {
            return Status::Empty.raw();
        };
        drop(state);
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
        unsafe { give(&item, return_value_data, return_value_size) };
        OK
    }
}
