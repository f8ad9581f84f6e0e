//! What a test observes of the filter: its log lines and its metrics.

use super::Emulator;
use super::host::{LogRecord, Metric};
use crate::abi::LogLevel;

impl Emulator {
    /// The level the host logs at (records below it are dropped, as in Envoy).
    pub fn set_log_level(&self, level: LogLevel) {
        self.host.state.borrow_mut().log_level = level;
    }

    /// Every log line kept so far.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.host.state.borrow().logs.clone()
    }

    /// Whether some log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.host
            .state
            .borrow()
            .logs
            .iter()
            .any(|r| r.message.contains(text))
    }

    /// Every metric the filter defined.
    pub fn metrics(&self) -> Vec<Metric> {
        self.host.state.borrow().metrics.clone()
    }

    /// The value of metric `name`.
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.host
            .state
            .borrow()
            .metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }
}
