//! Properties: what Envoy knows of the stream, the connection and the plugin.

use super::*;

impl PropertyHost for EmulatorHost {
    fn proxy_get_property(&self, call: proxy_get_property::Args<'_>) -> u32 {
        let mut state = self.state.borrow_mut();
        state
            .properties_read
            .push(String::from_utf8_lossy(call.path).replace('\0', "."));
        let Some(value) = state.attribute(call.path) else {
            return NOT_FOUND;
        };
        *call.return_value = value;
        OK
    }

    fn proxy_set_property(&self, call: proxy_set_property::Args<'_>) -> u32 {
        // What the filter sets, it (and the tests, through `properties`) reads back.
        let mut state = self.state.borrow_mut();
        state
            .properties
            .insert(call.path.to_vec(), call.value.to_vec());
        OK
    }
}
