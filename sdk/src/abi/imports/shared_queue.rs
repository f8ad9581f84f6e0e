//! Shared queues.

hostcalls! {
    /// Host side of shared queues.
    trait SharedQueueHost;
    /// Creates (or opens) the queue `name` owned by this VM.
    fn proxy_register_shared_queue(name: &[u8], return_id: &mut u32);
    /// Finds the queue `name` of VM `vm_id`.
    fn proxy_resolve_shared_queue(vm_id: &[u8], name: &[u8], return_id: &mut u32);
    /// Appends an item.
    fn proxy_enqueue_shared_queue(queue_id: u32, value: &[u8]);
    /// Takes the first item.
    fn proxy_dequeue_shared_queue(queue_id: u32, return_value: &mut Vec<u8>);
}
