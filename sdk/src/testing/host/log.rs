//! Logging: `proxy_log`, `proxy_get_log_level`.

use super::*;

impl LogHost for EmulatorHost {
    unsafe fn proxy_log(&self, level: u32, message_data: *const u8, message_size: usize) -> u32 {
        if level > LogLevel::Critical as u32 {
            return BAD_ARGUMENT;
        }
        let message =
            // SAFETY: the SDK's side of the seam passes a live slice's pointer and length (see `host/`).
            String::from_utf8_lossy(unsafe { bytes(message_data, message_size) }).into_owned();
        let mut state = self.state.borrow_mut();
        let level = LogLevel::from_raw(level);
        if level >= state.log_level {
            state.logs.push(LogRecord { level, message });
        }
        OK
    }

    unsafe fn proxy_get_log_level(&self, return_level: *mut u32) -> u32 {
        // SAFETY: the out-param points to the caller's local, valid for one write.
        unsafe { *return_level = self.state.borrow().log_level as u32 };
        OK
    }
}
