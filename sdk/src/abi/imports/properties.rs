//! Properties (Envoy attributes).

hostcalls! {
    /// Host side of properties.
    trait PropertyHost;
    /// Returns the value at `path` (segments separated by NUL bytes).
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    );
    /// Sets the value at `path`.
    fn proxy_set_property(path_data: *const u8, path_size: usize, value_data: *const u8, value_size: usize);
}
