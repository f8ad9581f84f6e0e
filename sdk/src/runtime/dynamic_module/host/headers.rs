//! Header maps: the stream's headers and trailers, and a callout answer's headers (or a
//! gRPC stream's metadata).

use super::*;
use crate::abi::pairs::Packed;
use std::mem::MaybeUninit;

/// How many header slots live on the stack while a map is read (more go on the heap).
const STACK_SLOTS: usize = 32;

/// Header slots Envoy filled in the current hook: names and values borrowed from its map.
#[derive(Clone, Copy)]
struct Filled<'a> {
    slots: &'a [EnvoyHeader],
}

impl<'a> Filled<'a> {
    /// Every name and value, in Envoy's order.
    fn pairs(self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone {
        self.slots.iter().map(|header| {
            // SAFETY: `Filled` holds only slots Envoy filled with its header's bytes, valid
            // for the current hook while the map is not changed (see `with_headers`).
            unsafe {
                (
                    crate::abi::native::input(header.key_ptr, header.key_length),
                    crate::abi::native::input(header.value_ptr, header.value_length),
                )
            }
        })
    }
}

impl NativeHost {
    /// Runs `read` on every header of map `map` of the current stream, borrowed from Envoy.
    /// `read` cannot write to the map, so what it borrows stays valid while it runs.
    fn with_headers<R>(&self, map: u32, read: impl FnOnce(Filled<'_>) -> R) -> Option<R> {
        let filter = self.filter()?;
        let count = envoy!(http_get_headers_size(filter, map))?;
        if count == 0 {
            return Some(read(Filled { slots: &[] }));
        }
        // Left unwritten: Envoy fills them (a kilobyte of stack zeroed per read cost more
        // than the rest of a small map's read).
        let mut stack = [const { MaybeUninit::<EnvoyHeader>::uninit() }; STACK_SLOTS];
        let mut heap = Vec::new();
        let slots: &mut [MaybeUninit<EnvoyHeader>] = if count <= STACK_SLOTS {
            &mut stack[..count]
        } else {
            heap.reserve_exact(count);
            &mut heap.spare_capacity_mut()[..count]
        };
        if !envoy!(http_get_headers(filter, map, slots.as_mut_ptr().cast()))? {
            return None;
        }
        // SAFETY: Envoy answered true, so it wrote one header into each of the `count`
        // slots `http_get_headers_size` asked for (`abi.h`: the array holds that many, and
        // `getHeadersImpl` writes every header of the map, which no call changed between).
        let slots = unsafe { std::slice::from_raw_parts(slots.as_ptr().cast(), count) };
        Some(read(Filled { slots }))
    }

    /// Map `map` of the current stream in proxy-wasm's serialized form, encoded straight
    /// from Envoy's header slots (no copy of each header first).
    pub(super) fn serialized_headers(&self, map: u32) -> Option<Vec<u8>> {
        self.with_headers(map, |filled| pairs::encode_iter(filled.pairs()))
    }
}

/// Envoy's header map for a proxy-wasm map type of the stream.
fn stream_map(map_type: u32) -> Option<u32> {
    match MapType::from_raw(map_type)? {
        MapType::HttpRequestHeaders => Some(header_map::REQUEST_HEADERS),
        MapType::HttpRequestTrailers => Some(header_map::REQUEST_TRAILERS),
        MapType::HttpResponseHeaders => Some(header_map::RESPONSE_HEADERS),
        MapType::HttpResponseTrailers => Some(header_map::RESPONSE_TRAILERS),
        _ => None,
    }
}

/// A stream's map goes to the list straight from Envoy's header slots.
impl DirectHeadersHost for NativeHost {
    fn header_map_packed(&self, map_type: u32) -> Option<(u32, Packed)> {
        let map = stream_map(map_type)?;
        let read = self.with_headers(map, |filled| {
            let bytes = filled
                .slots
                .iter()
                .map(|header| header.key_length + header.value_length)
                .sum();
            let mut packed = Packed::with_capacity(filled.slots.len(), bytes);
            filled
                .pairs()
                .for_each(|(name, value)| packed.push(name, value));
            packed
        });
        Some(match read {
            Some(packed) => (OK, packed),
            None => (BAD_ARGUMENT, Packed::default()),
        })
    }

    fn header_value_with(
        &self,
        map_type: u32,
        key: &[u8],
        read: &mut dyn FnMut(&[u8]),
    ) -> Option<u32> {
        Some(self.stream_header(stream_map(map_type)?, key, read))
    }
}

impl NativeHost {
    /// Shows `read` the value of `key` in Envoy's map `map` of the current stream, borrowed
    /// from Envoy, and returns the status.
    fn stream_header(&self, map: u32, key: &[u8], read: &mut dyn FnMut(&[u8])) -> u32 {
        let Some(filter) = self.filter() else {
            return BAD_ARGUMENT;
        };
        let mut value = EnvoyBuffer::EMPTY;
        let found = envoy!(http_get_header(
            filter,
            map,
            ModuleBuffer::of(key),
            &mut value,
            0,
            std::ptr::null_mut()
        ));
        match found {
            Some(true) if !value.ptr.is_null() => {
                // SAFETY: Envoy filled `value` in the current hook; it stays valid until the
                // map changes, and `read` cannot change it.
                read(unsafe { value.bytes() });
                OK
            }
            Some(_) => NOT_FOUND,
            None => UNIMPLEMENTED,
        }
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
        let (Some(filter), Some(map)) = (self.filter(), stream_map(call.map_type)) else {
            return BAD_ARGUMENT;
        };
        // The old names are copied: the writes below change Envoy's map.
        let old_names = self.with_headers(map, |filled| {
            filled
                .pairs()
                .map(|(key, _)| key.to_vec())
                .collect::<Vec<_>>()
        });
        let (Some(new), Some(old_names)) = (owned_pairs(call.data), old_names) else {
            return BAD_ARGUMENT;
        };
        for key in &old_names {
            if !new.iter().any(|(k, _)| k == key) {
                envoy!(http_set_header(
                    filter,
                    map,
                    ModuleBuffer::of(key),
                    ModuleBuffer::NULL
                ));
            }
        }
        let mut set: Vec<&[u8]> = Vec::new();
        for (key, value) in &new {
            let (key_buf, value_buf) = (ModuleBuffer::of(key), ModuleBuffer::of(value));
            let done = if set.contains(&key.as_slice()) {
                envoy!(http_add_header(filter, map, key_buf, value_buf))
            } else {
                set.push(key);
                envoy!(http_set_header(filter, map, key_buf, value_buf))
            };
            if done != Some(true) {
                return BAD_ARGUMENT;
            }
        }
        OK
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
        let Some(map) = stream_map(call.map_type) else {
            return BAD_ARGUMENT;
        };
        self.stream_header(map, call.key, &mut |value| {
            *call.return_value = value.to_vec();
        })
    }

    fn proxy_add_header_map_value(&self, call: proxy_add_header_map_value::Args<'_>) -> u32 {
        self.write_header(call.map_type, call.key, call.value, Write::Add)
    }

    fn proxy_replace_header_map_value(
        &self,
        call: proxy_replace_header_map_value::Args<'_>,
    ) -> u32 {
        self.write_header(call.map_type, call.key, call.value, Write::Replace)
    }

    fn proxy_remove_header_map_value(&self, call: proxy_remove_header_map_value::Args<'_>) -> u32 {
        let (Some(filter), Some(map)) = (self.filter(), stream_map(call.map_type)) else {
            return BAD_ARGUMENT;
        };
        envoy!(http_set_header(
            filter,
            map,
            ModuleBuffer::of(call.key),
            ModuleBuffer::NULL
        ));
        OK
    }
}

/// How a header write treats the values the map already has under the name.
#[derive(Clone, Copy)]
enum Write {
    /// Keeps them: one more value.
    Add,
    /// Drops them: this value alone.
    Replace,
}

impl NativeHost {
    /// Writes `key: value` into the current stream's map `map_type`, adding or replacing.
    fn write_header(&self, map_type: u32, key: &[u8], value: &[u8], write: Write) -> u32 {
        let (Some(filter), Some(map)) = (self.filter(), stream_map(map_type)) else {
            return BAD_ARGUMENT;
        };
        let (key, value) = (ModuleBuffer::of(key), ModuleBuffer::of(value));
        let written = match write {
            Write::Add => envoy!(http_add_header(filter, map, key, value)),
            Write::Replace => envoy!(http_set_header(filter, map, key, value)),
        };
        if written == Some(true) {
            OK
        } else {
            BAD_ARGUMENT
        }
    }
}
