//! HTTP fields: headers, trailers, callout and gRPC metadata.

hostcalls! {
    /// Host side of header maps.
    trait HeaderHost;
    /// Writes the serialized size of map `map_type`.
    fn proxy_get_header_map_size(map_type: u32, return_size: *mut usize);
    /// Returns every pair of map `map_type`, serialized (see [`pairs`](crate::abi::pairs)).
    fn proxy_get_header_map_pairs(map_type: u32, return_data: *mut *mut u8, return_size: *mut usize);
    /// Replaces every pair of map `map_type` with the serialized pairs.
    fn proxy_set_header_map_pairs(map_type: u32, data: *const u8, size: usize);
    /// Returns the value of `key`; of a repeated header, its first value (Envoy 1.40).
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    );
    /// Adds a value to `key`, keeping values already there.
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    );
    /// Sets `key` to exactly this value.
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    );
    /// Removes every value of `key`.
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize);
}
