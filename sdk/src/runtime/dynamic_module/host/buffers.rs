//! Byte buffers: bodies, a connection's data, the plugin's configuration, a callout
//! answer's body.

use super::*;

impl NativeHost {
    /// The slices of body buffer `which` of the current stream.
    fn body_chunks(&self, filter: FilterEnvoyPtr, which: u32) -> Vec<EnvoyBuffer> {
        let count = envoy!(http_get_body_chunks_size(filter, which)).unwrap_or(0);
        let mut chunks = vec![EnvoyBuffer::EMPTY; count];
        if count > 0
            && envoy!(http_get_body_chunks(filter, which, chunks.as_mut_ptr())) != Some(true)
        {
            chunks.clear();
        }
        chunks
    }

    /// The body of direction `request` as proxy-wasm sees it: what this filter buffered
    /// so far, then what this hook received.
    fn body(&self, filter: FilterEnvoyPtr, request: bool) -> Vec<u8> {
        let (buffered, received) = body_pair(request);
        let mut chunks = self.body_chunks(filter, buffered);
        chunks.extend(self.body_chunks(filter, received));
        gather(&chunks)
    }

    /// The sizes of the buffered and the received body of direction `request`, each with
    /// its buffer.
    fn body_sizes(&self, filter: FilterEnvoyPtr, request: bool) -> [(u32, usize); 2] {
        let (buffered, received) = body_pair(request);
        let size = |which| envoy!(http_get_body_size(filter, which)).unwrap_or(0);
        [(buffered, size(buffered)), (received, size(received))]
    }

    /// The size of the body of direction `request`: buffered and received.
    pub(in crate::runtime::dynamic_module) fn body_size(
        &self,
        filter: FilterEnvoyPtr,
        request: bool,
    ) -> usize {
        self.body_sizes(filter, request)
            .iter()
            .map(|(_, size)| size)
            .sum()
    }

    /// Replaces the whole body of direction `request` (of sizes `sizes`, from
    /// [`body_sizes`](Self::body_sizes)) with `bytes`.
    fn replace_body(
        &self,
        filter: FilterEnvoyPtr,
        request: bool,
        sizes: [(u32, usize); 2],
        bytes: &[u8],
    ) -> bool {
        for (which, size) in sizes {
            if size > 0 && envoy!(http_drain_body(filter, which, size)) != Some(true) {
                return false;
            }
        }
        let (_, received) = body_pair(request);
        bytes.is_empty()
            || envoy!(http_append_body(filter, received, ModuleBuffer::of(bytes))) == Some(true)
    }
}

/// The bytes of `chunks`, which Envoy filled in the current hook, in one vector.
pub(super) fn gather(chunks: &[EnvoyBuffer]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(chunks.iter().map(|chunk| chunk.length).sum());
    for chunk in chunks {
        // SAFETY: Envoy filled the slice in the current hook.
        bytes.extend_from_slice(unsafe { chunk.bytes() });
    }
    bytes
}

/// The buffered and received body buffers of a direction.
fn body_pair(request: bool) -> (u32, u32) {
    if request {
        (body::BUFFERED_REQUEST, body::RECEIVED_REQUEST)
    } else {
        (body::BUFFERED_RESPONSE, body::RECEIVED_RESPONSE)
    }
}

impl NativeHost {
    /// Buffer `buffer_type`'s bytes in the current context; `None` where it has none.
    fn buffer(&self, buffer_type: u32) -> Option<Vec<u8>> {
        Some(match BufferType::from_raw(buffer_type)? {
            BufferType::PluginConfiguration => self.plugin()?.configuration.clone(),
            // Natively there is no VM, so no VM configuration.
            BufferType::VmConfiguration => Vec::new(),
            BufferType::HttpCallResponseBody | BufferType::GrpcReceiveBuffer => {
                self.answer.borrow().as_ref()?.body.clone()
            }
            kind @ (BufferType::HttpRequestBody | BufferType::HttpResponseBody) => {
                self.body(self.filter()?, kind == BufferType::HttpRequestBody)
            }
            kind @ (BufferType::DownstreamData | BufferType::UpstreamData) => {
                self.data(kind == BufferType::UpstreamData)?
            }
            _ => return None,
        })
    }
}

impl BufferHost for NativeHost {
    fn proxy_get_buffer_bytes(&self, call: proxy_get_buffer_bytes::Args<'_>) -> u32 {
        let Some(bytes) = self.buffer(call.buffer_type) else {
            return NOT_FOUND;
        };
        if call.start > bytes.len() {
            return BAD_ARGUMENT;
        }
        // The range in place: the whole body (the usual read) is handed over uncopied.
        let mut bytes = bytes;
        bytes.truncate(call.start.saturating_add(call.max_size));
        bytes.drain(..call.start);
        *call.return_data = bytes;
        OK
    }

    fn proxy_set_buffer_bytes(&self, call: proxy_set_buffer_bytes::Args<'_>) -> u32 {
        let request = match BufferType::from_raw(call.buffer_type) {
            Some(BufferType::HttpRequestBody) => true,
            Some(BufferType::HttpResponseBody) => false,
            Some(kind @ (BufferType::DownstreamData | BufferType::UpstreamData)) => {
                let upstream = kind == BufferType::UpstreamData;
                return self.set_data(upstream, call.start, call.size, call.data);
            }
            _ => return BAD_ARGUMENT,
        };
        let Some(filter) = self.filter() else {
            return NOT_FOUND;
        };
        let sizes = self.body_sizes(filter, request);
        let size = sizes[0].1 + sizes[1].1;
        // As Envoy: from the start, the first `size` bytes are replaced (`size` 0
        // prepends); from the end or past it, the data is appended; anything else is refused.
        let done = if call.start == 0 && call.size >= size {
            // The whole body replaced (the usual write): the old one is not read.
            self.replace_body(filter, request, sizes, call.data)
        } else if call.start == 0 {
            let mut bytes = self.body(filter, request);
            let end = call.size.min(bytes.len());
            bytes.splice(..end, call.data.iter().copied());
            self.replace_body(filter, request, sizes, &bytes)
        } else if call.start >= size {
            let (_, received) = body_pair(request);
            call.data.is_empty()
                || envoy!(http_append_body(
                    filter,
                    received,
                    ModuleBuffer::of(call.data)
                )) == Some(true)
        } else {
            return BAD_ARGUMENT;
        };
        if done { OK } else { BAD_ARGUMENT }
    }

    fn proxy_get_buffer_status(&self, call: proxy_get_buffer_status::Args<'_>) -> u32 {
        // A body's or a connection's size from Envoy, without copying it; the small
        // buffers (configurations, an answer's body) measured as `get` reads them.
        let size = match BufferType::from_raw(call.buffer_type) {
            Some(kind @ (BufferType::HttpRequestBody | BufferType::HttpResponseBody)) => self
                .filter()
                .map(|filter| self.body_size(filter, kind == BufferType::HttpRequestBody)),
            Some(kind @ (BufferType::DownstreamData | BufferType::UpstreamData)) => {
                self.data_size(kind == BufferType::UpstreamData)
            }
            _ => self.buffer(call.buffer_type).map(|bytes| bytes.len()),
        };
        let Some(size) = size else {
            return NOT_FOUND;
        };
        *call.return_size = size;
        *call.return_flags = 0;
        OK
    }
}
