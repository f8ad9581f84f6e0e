//! The `log` crate, bridged to the host's log, and a panic hook that logs.
//!
//! A line logged while a stream's callback runs (or a callout's or timer's handler for a
//! stream) starts with the stream's request id, `[<x-request-id>] `, so it can be found
//! beside Envoy's access log; plugin-level lines do not. The id is read once per stream, at
//! its first line, and kept with the stream; a plugin turns the prefix off with
//! [`Plugin::LOG_REQUEST_ID`](crate::Plugin::LOG_REQUEST_ID). Envoy itself puts the
//! plugin's name first.

use crate::abi::LogLevel;
use crate::host;
use std::cell::Cell;

thread_local! {
    /// The stream whose code is running (0: none), so its lines carry its request id.
    static STREAM: Cell<u32> = const { Cell::new(0) };
}

/// Runs stream `context_id`'s code: lines it logs carry the stream's request id.
pub(crate) fn for_stream<R>(context_id: u32, code: impl FnOnce() -> R) -> R {
    // One thread-local lookup (a call of its own in a `dlopen`ed library): the cell is
    // free while the code runs.
    STREAM.with(|stream| {
        let outer = stream.replace(context_id);
        let result = code();
        stream.set(outer);
        result
    })
}

/// `[<request id>] ` while a stream's code runs and the stream has an id; else nothing.
fn request_prefix() -> Option<String> {
    let stream = match STREAM.with(Cell::get) {
        // A stream bound elsewhere is not marked: its host knows it.
        0 => crate::runtime::state::running_elsewhere(),
        marked => marked,
    };
    if stream == 0 {
        return None;
    }
    let id = crate::runtime::state::request_id(stream)?;
    Some(format!("[{id}] "))
}

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
        let _ = match (request_prefix(), record.args().as_str()) {
            (None, Some(text)) => host::log::log(level, text),
            (None, None) => host::log::log(level, &record.args().to_string()),
            (Some(prefix), _) => host::log::log(level, &format!("{prefix}{}", record.args())),
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

/// Installs the logger and, in Envoy (on wasm, or as a dynamic module), the panic hook.
/// Safe to call more than once.
pub(crate) fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        #[cfg(any(target_arch = "wasm32", feature = "dynamic-module"))]
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
    if cfg!(any(target_arch = "wasm32", feature = "dynamic-module")) {
        if let Ok(level) = host::log::level() {
            log::set_max_level(max_level(level));
        }
    } else {
        // In tests several hosts share the process; each filters by its own level.
        log::set_max_level(log::LevelFilter::Trace);
    }
}
