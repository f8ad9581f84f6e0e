//! The `log` crate, bridged to the host's log, and a panic hook that logs.

use crate::abi::LogLevel;
use crate::host;

struct HostLogger;

static LOGGER: HostLogger = HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = host_level(record.level());
        // A log line that fails to reach the host has nowhere else to go.
        let _ = match record.args().as_str() {
            Some(text) => host::log::log(level, text),
            None => host::log::log(level, &record.args().to_string()),
        };
    }

    fn flush(&self) {}
}

fn host_level(level: log::Level) -> LogLevel {
    match level {
        log::Level::Error => LogLevel::Error,
        log::Level::Warn => LogLevel::Warn,
        log::Level::Info => LogLevel::Info,
        log::Level::Debug => LogLevel::Debug,
        log::Level::Trace => LogLevel::Trace,
    }
}

fn max_level(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Trace => log::LevelFilter::Trace,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Error | LogLevel::Critical => log::LevelFilter::Error,
    }
}

/// Installs the logger and, on wasm, the panic hook. Safe to call more than once.
pub(crate) fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        #[cfg(target_arch = "wasm32")]
        std::panic::set_hook(Box::new(|info| {
            // One line, so the message and the location land in the same log entry.
            let message = info.payload_as_str().unwrap_or("(no message)");
            let line = match info.location() {
                Some(at) => format!(
                    "panicked at {}:{}:{}: {message}",
                    at.file(),
                    at.line(),
                    at.column()
                ),
                None => format!("panicked: {message}"),
            };
            let _ = host::log::log(LogLevel::Critical, &line);
        }));
    }
    refresh_level();
}

/// Follows the host's log level, so records the host would drop are never formatted.
pub(crate) fn refresh_level() {
    if cfg!(target_arch = "wasm32") {
        if let Ok(level) = host::log::level() {
            log::set_max_level(max_level(level));
        }
    } else {
        // Off wasm several hosts share the process; each filters by its own level.
        log::set_max_level(log::LevelFilter::Trace);
    }
}
