//! Header maps: headers, trailers, callout and gRPC metadata.

use super::*;

impl HeaderHost for EmulatorHost {
    unsafe fn proxy_get_header_map_size(&self, map_type: u32, return_size: *mut usize) -> u32 {
        self.with_map(map_type, |map| {
            // SAFETY: the out-param points to the caller's local, valid for one write.
            unsafe { *return_size = pairs::encode(map).len() };
            OK
        })
    }

    unsafe fn proxy_get_header_map_pairs(
        &self,
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32 {
        let read = self.read_map(map_type, |map| Some(pairs::encode(map)));
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`).
        unsafe { hand_over(read, return_data, return_size) }
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
        self.with_map(map_type, |map| {
            *map = new_pairs.into_iter().map(|(k, v)| (lower(&k), v)).collect();
            OK
        })
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
        // Envoy answers with the first value of a repeated header.
        let read = self.read_map(map_type, |map| {
            map.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
        });
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`).
        unsafe { hand_over(read, return_data, return_size) }
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
        self.with_map(map_type, |map| {
            map.retain(|(k, _)| *k != key);
            OK
        })
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

    /// Reads from map `map_type` of the effective context: `Err(BadArgument)` if it has
    /// none now, `Ok(None)` if `read` finds nothing. The state is released before the
    /// bytes are handed to the guest.
    fn read_map(
        &self,
        map_type: u32,
        read: impl FnOnce(&Pairs) -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, u32> {
        match self.state.borrow_mut().map(map_type) {
            Some(map) => Ok(read(map)),
            None => Err(BAD_ARGUMENT),
        }
    }
}

/// Hands what [`EmulatorHost::read_map`] found to the guest; `NotFound` for nothing.
///
/// # Safety
/// The return pointers must be valid for writes.
unsafe fn hand_over(
    read: Result<Option<Vec<u8>>, u32>,
    return_data: *mut *mut u8,
    return_size: *mut usize,
) -> u32 {
    match read {
        Ok(Some(value)) => {
            // SAFETY: the caller's contract, passed on.
            unsafe { give(&value, return_data, return_size) };
            OK
        }
        Ok(None) => NOT_FOUND,
        Err(status) => status,
    }
}
