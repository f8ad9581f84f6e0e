//! HTTP fields: headers, trailers, callout and gRPC metadata.

hostcalls! {
    /// Host side of header maps.
    trait HeaderHost;
    /// Writes the serialized size of map `map_type`.
    fn proxy_get_header_map_size(map_type: u32, return_size: &mut usize);
    /// Returns every pair of map `map_type`, serialized (see [`pairs`](crate::abi::pairs)).
    fn proxy_get_header_map_pairs(map_type: u32, return_pairs: &mut Vec<u8>);
    /// Replaces every pair of map `map_type` with the serialized pairs.
    fn proxy_set_header_map_pairs(map_type: u32, data: &[u8]);
    /// Returns the value of `key`; of a repeated header, its first value (Envoy 1.40).
    fn proxy_get_header_map_value(map_type: u32, key: &[u8], return_value: &mut Vec<u8>);
    /// Adds a value to `key`, keeping values already there.
    fn proxy_add_header_map_value(map_type: u32, key: &[u8], value: &[u8]);
    /// Sets `key` to exactly this value.
    fn proxy_replace_header_map_value(map_type: u32, key: &[u8], value: &[u8]);
    /// Removes every value of `key`.
    fn proxy_remove_header_map_value(map_type: u32, key: &[u8]);
}
