//! Header maps: headers, trailers, callout and gRPC metadata.

use super::*;

/// The emulator serializes maps, as a wasm host does.
impl DirectHeadersHost for EmulatorHost {}

impl HeaderHost for EmulatorHost {
    fn proxy_get_header_map_size(&self, call: proxy_get_header_map_size::Args<'_>) -> u32 {
        self.with_map(call.map_type, |map| {
            *call.return_size = pairs::encode(map).len();
            OK
        })
    }

    fn proxy_get_header_map_pairs(&self, call: proxy_get_header_map_pairs::Args<'_>) -> u32 {
        self.with_map(call.map_type, |map| {
            *call.return_pairs = pairs::encode(map);
            OK
        })
    }

    fn proxy_set_header_map_pairs(&self, call: proxy_set_header_map_pairs::Args<'_>) -> u32 {
        let Some(new_pairs) = decode_pairs(call.data) else {
            return BAD_ARGUMENT;
        };
        self.with_map(call.map_type, |map| {
            *map = new_pairs.into_iter().map(|(k, v)| (lower(&k), v)).collect();
            OK
        })
    }

    fn proxy_get_header_map_value(&self, call: proxy_get_header_map_value::Args<'_>) -> u32 {
        let key = lower(call.key);
        self.with_map(call.map_type, |map| {
            // Envoy answers with the first value of a repeated header.
            match map.iter().find(|(k, _)| *k == key) {
                Some((_, value)) => {
                    *call.return_value = value.clone();
                    OK
                }
                None => NOT_FOUND,
            }
        })
    }

    fn proxy_add_header_map_value(&self, call: proxy_add_header_map_value::Args<'_>) -> u32 {
        let (key, value) = (lower(call.key), call.value.to_vec());
        self.with_map(call.map_type, |map| {
            map.push((key, value));
            OK
        })
    }

    fn proxy_replace_header_map_value(
        &self,
        call: proxy_replace_header_map_value::Args<'_>,
    ) -> u32 {
        let (key, value) = (lower(call.key), call.value.to_vec());
        self.with_map(call.map_type, |map| {
            // The first occurrence keeps its place and takes the value; the others go.
            match map.iter().position(|(k, _)| *k == key) {
                Some(first) => {
                    map[first].1 = value;
                    let mut index = 0;
                    map.retain(|(k, _)| {
                        index += 1;
                        index - 1 == first || *k != key
                    });
                }
                None => map.push((key, value)),
            }
            OK
        })
    }

    fn proxy_remove_header_map_value(&self, call: proxy_remove_header_map_value::Args<'_>) -> u32 {
        let key = lower(call.key);
        self.with_map(call.map_type, |map| {
            map.retain(|(k, _)| *k != key);
            OK
        })
    }
}

impl EmulatorHost {
    /// Runs `change` on map `map_type` of the effective context; `BadArgument` if it has
    /// none now.
    fn with_map(&self, map_type: u32, change: impl FnOnce(&mut Pairs) -> u32) -> u32 {
        match self.state.borrow_mut().map(map_type) {
            Some(map) => change(map),
            None => BAD_ARGUMENT,
        }
    }
}
