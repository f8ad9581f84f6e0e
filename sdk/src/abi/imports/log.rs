//! Logging.

hostcalls! {
    /// Host side of logging.
    trait LogHost;
    /// Logs `message` at `level`.
    fn proxy_log(level: u32, message: &[u8]);
    /// Writes the host's current log level to `return_level`.
    fn proxy_get_log_level(return_level: &mut u32);
}
