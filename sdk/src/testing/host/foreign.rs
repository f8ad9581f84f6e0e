//! Foreign functions.

use super::*;

impl ForeignHost for EmulatorHost {
    unsafe fn proxy_call_foreign_function(
        &self,
        name_data: *const u8,
        name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        return_results_data: *mut *mut u8,
        return_results_size: *mut usize,
    ) -> u32 {
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let name = String::from_utf8_lossy(unsafe { bytes(name_data, name_size) }).into_owned();
        // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
        let arguments = unsafe { bytes(arguments_data, arguments_size) }.to_vec();
        // Taken out while it runs, so it may not re-enter the host through this state.
        let Some(mut function) = self.state.borrow_mut().foreign.remove(&name) else {
            return NOT_FOUND;
        };
        let result = function(&arguments);
        self.state.borrow_mut().foreign.insert(name, function);
        match result {
            Ok(results) => {
                // SAFETY: the out-params point to the caller's locals (see `host::returned_bytes`), valid for writes.
                unsafe { give(&results, return_results_data, return_results_size) };
                OK
            }
            Err(status) => status.raw(),
        }
    }
}
