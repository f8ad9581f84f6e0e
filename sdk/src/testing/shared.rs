//! Shared data and queues, as other workers and VMs see and use them.

use super::Emulator;
use crate::abi::Status;

impl Emulator {
    /// Shared data `key` with its compare-and-swap version.
    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.host
            .state
            .borrow()
            .shared_data
            .get(key.as_bytes())
            .cloned()
    }

    /// Sets shared data `key`, as another VM would (a new version).
    pub fn set_shared_data(&self, key: &str, value: impl Into<Vec<u8>>) {
        let mut state = self.host.state.borrow_mut();
        state.write_shared(key.as_bytes(), value.into());
    }

    /// Scripts another worker that writes `value` to shared data `key` right after each of
    /// the filter's next `reads` reads of it: between the filter's read and its write, as
    /// two workers racing in Envoy can. A compare-and-swap write based on such a read
    /// fails, so the filter's retry path runs
    /// ([`SharedMap::update`](crate::shared::SharedMap::update) reads again and sees
    /// `value`).
    pub fn interfere_with_shared_data(&self, key: &str, value: impl Into<Vec<u8>>, reads: u32) {
        let mut state = self.host.state.borrow_mut();
        if reads == 0 {
            state.interfering_writes.remove(key.as_bytes());
        } else {
            let write = (value.into(), reads);
            state
                .interfering_writes
                .insert(key.as_bytes().to_vec(), write);
        }
    }

    /// Enqueues `item` on queue `name` of this VM, as another VM would; the owner is told.
    ///
    /// # Errors
    /// `Status::NotFound` when no queue has that name.
    pub fn enqueue(&self, name: &str, item: impl Into<Vec<u8>>) -> Result<(), Status> {
        let mut state = self.host.state.borrow_mut();
        let Some(index) = state.queues.iter().position(|q| q.name == name) else {
            return Err(Status::NotFound);
        };
        state.queues[index].items.push_back(item.into());
        let owner = state.queues[index].owner;
        state.ready_queues.push((owner, index as u32 + 1));
        drop(state);
        self.deliver_ready_queues();
        Ok(())
    }

    /// Items left on queue `name`.
    pub fn queue_items(&self, name: &str) -> Vec<Vec<u8>> {
        let state = self.host.state.borrow();
        state
            .queues
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.items.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(super) fn deliver_ready_queues(&self) {
        loop {
            let next = {
                let mut state = self.host.state.borrow_mut();
                if state.ready_queues.is_empty() {
                    None
                } else {
                    Some(state.ready_queues.remove(0))
                }
            };
            let Some((owner, queue)) = next else { break };
            self.invoke(
                owner,
                "proxy_on_queue_ready",
                &[u64::from(owner), u64::from(queue)],
            );
        }
    }
}
