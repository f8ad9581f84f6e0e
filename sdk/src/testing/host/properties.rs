//! Properties: what Envoy knows of the stream, the connection and the plugin.

use super::*;

impl PropertyHost for EmulatorHost {
    unsafe fn proxy_get_property(
        &self,
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let path = unsafe { bytes(path_data, path_size) };
        let mut state = self.state.borrow_mut();
        state
            .properties_read
            .push(String::from_utf8_lossy(path).replace('\0', "."));
        let Some(value) = state.property(path) else {
            return NOT_FOUND;
        };
        drop(state);
        // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
        unsafe { give(&value, return_value_data, return_value_size) };
        OK
    }

    unsafe fn proxy_set_property(
        &self,
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let path = unsafe { bytes(path_data, path_size) }.to_vec();
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let value = unsafe { bytes(value_data, value_size) }.to_vec();
        // What the filter sets, it (and the tests, through `properties`) reads back.
        self.state.borrow_mut().properties.insert(path, value);
        OK
    }
}
