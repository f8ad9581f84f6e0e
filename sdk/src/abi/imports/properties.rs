//! Properties (Envoy attributes).

hostcalls! {
    /// Host side of properties.
    trait PropertyHost;
    /// Returns the value at `path` (segments separated by NUL bytes).
    fn proxy_get_property(path: &[u8], return_value: &mut Vec<u8>);
    /// Sets the value at `path`.
    fn proxy_set_property(path: &[u8], value: &[u8]);
}
