//! Context lifecycle.

hostcalls! {
    /// Host side of the context lifecycle.
    trait ContextHost;
    /// Tells the host the active context finished the work it deferred in `proxy_on_done`.
    fn proxy_done();
    /// Makes `context_id` the context later host calls act on.
    fn proxy_set_effective_context(context_id: u32);
}
