//! Logging: `proxy_log`, `proxy_get_log_level`, as Envoy names a plugin's lines.

use super::*;

impl NativeHost {
    pub(super) fn write_log(&self, level: u32, message: &[u8]) {
        // As Envoy names a wasm plugin's lines: its name and root id first.
        let line = match self.plugin() {
            Some(plugin) => {
                let mut line = Vec::with_capacity(plugin.name.len() * 2 + 3 + message.len());
                line.extend_from_slice(plugin.name.as_bytes());
                line.push(b' ');
                line.extend_from_slice(plugin.name.as_bytes());
                line.extend_from_slice(b": ");
                line.extend_from_slice(message);
                line
            }
            None => message.to_vec(),
        };
        envoy!(log(level, ModuleBuffer::of(&line)));
    }
}

impl LogHost for NativeHost {
    fn proxy_log(&self, call: proxy_log::Args<'_>) -> u32 {
        self.write_log(call.level.min(dm::log_level::CRITICAL), call.message);
        OK
    }

    fn proxy_get_log_level(&self, call: proxy_get_log_level::Args<'_>) -> u32 {
        let lowest = (dm::log_level::TRACE..=dm::log_level::CRITICAL)
            .find(|level| envoy!(log_enabled(*level)) == Some(true))
            .unwrap_or(dm::log_level::CRITICAL);
        *call.return_level = lowest;
        OK
    }
}
