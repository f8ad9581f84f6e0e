//! Header maps: headers, trailers, callout and gRPC metadata.

use super::*;

impl HeaderHost for EmulatorHost {
    unsafe fn proxy_get_header_map_size(&self, map_type: u32, return_size: *mut usize) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_size = pairs::encode(map).len() };
        OK
    }

    unsafe fn proxy_get_header_map_pairs(
        &self,
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32 {
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        let encoded = pairs::encode(map);
        drop(state);
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
        unsafe { give(&encoded, return_data, return_size) };
        OK
    }

    unsafe fn proxy_set_header_map_pairs(
        &self,
        map_type: u32,
        data: *const u8,
        size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let Some(new_pairs) = decode_pairs(unsafe { bytes(data, size) }) else {
            return BAD_ARGUMENT;
        };
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        *map = new_pairs.into_iter().map(|(k, v)| (lower(&k), v)).collect();
        OK
    }

    unsafe fn proxy_get_header_map_value(
        &self,
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = lower(unsafe { bytes(key_data, key_size) });
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        // Envoy answers with the first value of a repeated header.
        let Some(value) = map.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()) else {
            return NOT_FOUND;
        };
        drop(state);
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
        unsafe { give(&value, return_data, return_size) };
        OK
    }

    unsafe fn proxy_add_header_map_value(
        &self,
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes live slices' pointers and lengths.
        let (key, value) = unsafe { pair(key_data, key_size, value_data, value_size) };
        self.with_map(map_type, |map| {
            map.push((key, value));
            OK
        })
    }

    unsafe fn proxy_replace_header_map_value(
        &self,
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes live slices' pointers and lengths.
        let (key, value) = unsafe { pair(key_data, key_size, value_data, value_size) };
        self.with_map(map_type, |map| {
            // The first occurrence keeps its place and takes the value; the others go.
            match map.iter().position(|(k, _)| *k == key) {
                Some(first) => {
                    map[first].1 = value;
                    let mut index = 0;
                    map.retain(|(k, _)| {
                        index += 1;
                        index - 1 == first || *k != key
                    });
                }
                None => map.push((key, value)),
            }
            OK
        })
    }

    unsafe fn proxy_remove_header_map_value(
        &self,
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let key = lower(unsafe { bytes(key_data, key_size) });
        let mut state = self.state.borrow_mut();
        let Some(map) = state.map(map_type) else {
            return BAD_ARGUMENT;
        };
        map.retain(|(k, _)| *k != key);
        OK
    }
}

/// A header name (lower-cased, as Envoy stores it) and value the SDK passed in.
///
/// # Safety
/// Each pointer must be valid for its size (or the size zero).
unsafe fn pair(
    key_data: *const u8,
    key_size: usize,
    value_data: *const u8,
    value_size: usize,
) -> (Vec<u8>, Vec<u8>) {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        (
            lower(bytes(key_data, key_size)),
            bytes(value_data, value_size).to_vec(),
        )
    }
}

impl EmulatorHost {
    /// Runs `change` on map `map_type` of the effective context; `BadArgument` if it has
    /// none now.
    fn with_map(&self, map_type: u32, change: impl FnOnce(&mut Pairs) -> u32) -> u32 {
        match self.state.borrow_mut().map(map_type) {
            Some(map) => change(map),
            None => BAD_ARGUMENT,
        }
    }
}
