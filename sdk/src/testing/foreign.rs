//! Foreign functions: Envoy's built-in ones, a test's own, and calls into the filter's.

use super::routes::route;
use super::{Emulator, PluginId};
use crate::abi::Status;

impl Emulator {
    /// Envoy's built-in foreign functions: `clear_route_cache` (routes again with the
    /// router set by [`set_router`](Emulator::set_router)) and `set_envoy_filter_state`
    /// (readable as the `filter_state.<key>` property).
    pub(super) fn offer_envoy_foreign_functions(&self) {
        let (host, router, clears) = (
            self.host.clone(),
            self.router.clone(),
            self.route_cache_clears.clone(),
        );
        self.register_foreign_function("clear_route_cache", move |_| {
            clears.set(clears.get() + 1);
            route(&host, &router);
            Ok(Vec::new())
        });
        let host = self.host.clone();
        self.register_foreign_function("set_envoy_filter_state", move |arguments| {
            let (key, value) =
                crate::foreign::filter_state_arguments(arguments).ok_or(Status::BadArgument)?;
            let mut path = b"filter_state\0".to_vec();
            path.extend_from_slice(&key);
            host.state.borrow_mut().properties.insert(path, value);
            Ok(Vec::new())
        });
    }

    /// Offers a foreign function the filter can call by name.
    pub fn register_foreign_function(
        &self,
        name: &str,
        function: impl FnMut(&[u8]) -> Result<Vec<u8>, Status> + 'static,
    ) {
        self.host
            .state
            .borrow_mut()
            .foreign
            .insert(name.into(), Box::new(function));
    }

    /// Calls the plugin's `proxy_on_foreign_function` with `arguments`.
    pub fn call_foreign_function(&self, plugin: PluginId, function_id: u32, arguments: &[u8]) {
        self.host.state.borrow_mut().foreign_arguments = arguments.to_vec();
        let args = [
            u64::from(plugin.0),
            u64::from(function_id),
            arguments.len() as u64,
        ];
        self.call_into(plugin.0, "proxy_on_foreign_function", &args);
    }
}
