//! Foreign functions: host extensions called by name.

hostcalls! {
    /// Host side of foreign functions.
    trait ForeignHost;
    /// Calls the host function `name` with serialized arguments.
    fn proxy_call_foreign_function(
        name_data: *const u8,
        name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        return_results_data: *mut *mut u8,
        return_results_size: *mut usize,
    );
}
