//! Shared key-value store (shared by every VM of the same `vm_id`).

hostcalls! {
    /// Host side of shared data.
    trait SharedDataHost;
    /// Returns the value of `key` and its compare-and-swap version.
    fn proxy_get_shared_data(key: &[u8], return_value: &mut Vec<u8>, return_cas: &mut u32);
    /// Sets `key`; a non-zero `cas` must match the stored version.
    fn proxy_set_shared_data(key: &[u8], value: &[u8], cas: u32);
}
