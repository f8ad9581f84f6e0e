//! Foreign functions: Envoy's that have a dynamic-module counterpart.

use super::*;

impl ForeignHost for NativeHost {
    /// The foreign functions Envoy offers a Wasm filter that have a dynamic-module
    /// counterpart.
    fn proxy_call_foreign_function(&self, call: proxy_call_foreign_function::Args<'_>) -> u32 {
        let Some(filter) = self.filter() else {
            return NOT_FOUND;
        };
        match call.name {
            b"clear_route_cache" => match envoy!(http_clear_route_cache(filter)) {
                Some(()) => OK,
                None => UNIMPLEMENTED,
            },
            b"set_envoy_filter_state" => {
                let Some((key, value)) = crate::foreign::filter_state_arguments(call.arguments)
                else {
                    return BAD_ARGUMENT;
                };
                let set = envoy!(http_set_filter_state_typed(
                    filter,
                    ModuleBuffer::of(&key),
                    ModuleBuffer::of(&value)
                ));
                match set {
                    Some(true) => OK,
                    Some(false) => BAD_ARGUMENT,
                    None => UNIMPLEMENTED,
                }
            }
            _ => NOT_FOUND,
        }
    }
}
