//! Header maps: the stream's headers and trailers, and a callout answer's headers (or a
//! gRPC stream's metadata).

use super::*;
use crate::abi::HeaderWrite;
use crate::abi::dynamic_module::stream::{HttpStream, stream_map};
use crate::abi::pairs::Packed;

impl NativeHost {
    /// The current stream's object in Envoy, for its header calls (none for a connection or
    /// a plugin).
    fn http_stream(&self) -> Option<HttpStream> {
        // SAFETY: a scope names a stream only while its object is alive, so before Envoy's
        // `destroy` of it (see `Scope`): set by the stream's own hooks, or from the host's
        // registry, which keeps a stream until its `destroy`, by a hook of this thread that
        // answers or times what it started; the value is used within this host call.
        self.filter()
            .map(|filter| unsafe { HttpStream::new(filter) })
    }

    /// Map `map` of the current stream in proxy-wasm's serialized form, encoded straight
    /// from Envoy's header slots (no copy of each header first).
    pub(super) fn serialized_headers(&self, map: u32) -> Option<Vec<u8>> {
        let stream = self.http_stream()?;
        stream.with_headers(map, |filled| pairs::encode_iter(filled.pairs()))
    }
}

/// A stream's map goes to the list straight from Envoy's header slots.
impl DirectHeadersHost for NativeHost {
    fn header_map_packed(&self, map_type: u32) -> Option<(u32, Packed)> {
        let map = stream_map(map_type)?;
        Some(match self.http_stream() {
            Some(stream) => stream.packed(map),
            None => (BAD_ARGUMENT, Packed::default()),
        })
    }

    fn header_value_with(
        &self,
        map_type: u32,
        key: &[u8],
        read: &mut dyn FnMut(&[u8]),
    ) -> Option<u32> {
        let map = stream_map(map_type)?;
        Some(match self.http_stream() {
            Some(stream) => stream.header(map, key, read),
            None => BAD_ARGUMENT,
        })
    }
}

impl HeaderHost for NativeHost {
    fn proxy_get_header_map_size(&self, call: proxy_get_header_map_size::Args<'_>) -> u32 {
        let mut pairs_bytes = Vec::new();
        let status = self.proxy_get_header_map_pairs(proxy_get_header_map_pairs::Args {
            map_type: call.map_type,
            return_pairs: &mut pairs_bytes,
            _call: std::marker::PhantomData,
        });
        *call.return_size = pairs_bytes.len();
        status
    }

    fn proxy_get_header_map_pairs(&self, call: proxy_get_header_map_pairs::Args<'_>) -> u32 {
        let list = match MapType::from_raw(call.map_type) {
            Some(
                MapType::HttpCallResponseHeaders
                | MapType::GrpcReceiveInitialMetadata
                | MapType::GrpcReceiveTrailingMetadata,
            ) => match &*self.answer.borrow() {
                Some(answer) => answer.headers.clone(),
                None => return NOT_FOUND,
            },
            Some(MapType::HttpCallResponseTrailers) => Vec::new(),
            _ => match stream_map(call.map_type).and_then(|map| self.serialized_headers(map)) {
                Some(serialized) => {
                    *call.return_pairs = serialized;
                    return OK;
                }
                None => return BAD_ARGUMENT,
            },
        };
        *call.return_pairs = pairs::encode(&list);
        OK
    }

    fn proxy_set_header_map_pairs(&self, call: proxy_set_header_map_pairs::Args<'_>) -> u32 {
        let (Some(stream), Some(map)) = (self.http_stream(), stream_map(call.map_type)) else {
            return BAD_ARGUMENT;
        };
        match owned_pairs(call.data) {
            Some(pairs) => stream.set_pairs(map, &pairs),
            None => BAD_ARGUMENT,
        }
    }

    fn proxy_get_header_map_value(&self, call: proxy_get_header_map_value::Args<'_>) -> u32 {
        if let Some(
            MapType::HttpCallResponseHeaders
            | MapType::GrpcReceiveInitialMetadata
            | MapType::GrpcReceiveTrailingMetadata,
        ) = MapType::from_raw(call.map_type)
        {
            let answer = self.answer.borrow();
            let Some(answer) = answer.as_ref() else {
                return NOT_FOUND;
            };
            let key = call.key.to_ascii_lowercase();
            return match answer.headers.iter().find(|(k, _)| *k == key) {
                Some((_, value)) => {
                    *call.return_value = value.clone();
                    OK
                }
                None => NOT_FOUND,
            };
        }
        let (Some(stream), Some(map)) = (self.http_stream(), stream_map(call.map_type)) else {
            return BAD_ARGUMENT;
        };
        stream.header(map, call.key, |value| {
            *call.return_value = value.to_vec();
        })
    }

    fn proxy_add_header_map_value(&self, call: proxy_add_header_map_value::Args<'_>) -> u32 {
        self.write_header(call.map_type, call.key, HeaderWrite::Add(call.value))
    }

    fn proxy_replace_header_map_value(
        &self,
        call: proxy_replace_header_map_value::Args<'_>,
    ) -> u32 {
        self.write_header(call.map_type, call.key, HeaderWrite::Replace(call.value))
    }

    fn proxy_remove_header_map_value(&self, call: proxy_remove_header_map_value::Args<'_>) -> u32 {
        self.write_header(call.map_type, call.key, HeaderWrite::Remove)
    }
}

impl NativeHost {
    /// Writes `key` into the current stream's map `map_type` (see
    /// [`HttpStream::write_header`]).
    fn write_header(&self, map_type: u32, key: &[u8], write: HeaderWrite<'_>) -> u32 {
        match (self.http_stream(), stream_map(map_type)) {
            (Some(stream), Some(map)) => stream.write_header(map, key, write),
            _ => BAD_ARGUMENT,
        }
    }
}
