//! Logging: `proxy_log`, `proxy_get_log_level`.

use super::*;

impl LogHost for EmulatorHost {
    fn proxy_log(&self, call: proxy_log::Args<'_>) -> u32 {
        if call.level > LogLevel::Critical as u32 {
            return BAD_ARGUMENT;
        }
        let message = String::from_utf8_lossy(call.message).into_owned();
        let mut state = self.state.borrow_mut();
        let level = LogLevel::from_raw(call.level);
        if level >= state.log_level {
            state.logs.push(LogRecord { level, message });
        }
        OK
    }

    fn proxy_get_log_level(&self, call: proxy_get_log_level::Args<'_>) -> u32 {
        *call.return_level = self.state.borrow().log_level as u32;
        OK
    }
}

impl EmulatorHost {
    /// Records a log line the host itself writes (the VM's WASI output, its failures), at
    /// `level` if the log level lets it through.
    pub(crate) fn log_line(&self, level: LogLevel, message: String) {
        let mut state = self.state.borrow_mut();
        if level >= state.log_level {
            state.logs.push(LogRecord { level, message });
        }
    }
}
