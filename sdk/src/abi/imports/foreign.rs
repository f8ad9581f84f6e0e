//! Foreign functions: host extensions called by name.

hostcalls! {
    /// Host side of foreign functions.
    trait ForeignHost;
    /// Calls the host function `name` with serialized arguments.
    fn proxy_call_foreign_function(name: &[u8], arguments: &[u8], return_results: &mut Vec<u8>);
}
