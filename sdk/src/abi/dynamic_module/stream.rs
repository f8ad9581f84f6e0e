//! An HTTP stream's headers, read and written with Envoy's callbacks: what the native
//! host answers a stream's header calls with, and what a phase's own headers (`req.headers()`,
//! natively) reach directly, without the proxy-wasm seam.

use super::{EnvoyBuffer, EnvoyHeader, FilterEnvoyPtr, ModuleBuffer, callbacks, header_map};
use crate::abi::{HeaderWrite, MapType, Status, pairs::Packed};
use std::mem::MaybeUninit;

/// How many header slots live on the stack while a map is read (more go on the heap).
const STACK_SLOTS: usize = 32;

/// Envoy's HTTP filter of a stream whose event hook is running on this thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpStream(FilterEnvoyPtr);

/// Header slots Envoy filled in the current hook: names and values borrowed from its map.
#[derive(Clone, Copy)]
pub struct Filled<'a> {
    /// The slots, one per header.
    pub slots: &'a [EnvoyHeader],
}

impl<'a> Filled<'a> {
    /// Every name and value, in Envoy's order.
    pub fn pairs(self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone {
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

/// Envoy's header map for a proxy-wasm map type of a stream (`None` for another map).
pub fn stream_map(map_type: u32) -> Option<u32> {
    match MapType::from_raw(map_type)? {
        MapType::HttpRequestHeaders => Some(header_map::REQUEST_HEADERS),
        MapType::HttpRequestTrailers => Some(header_map::REQUEST_TRAILERS),
        MapType::HttpResponseHeaders => Some(header_map::RESPONSE_HEADERS),
        MapType::HttpResponseTrailers => Some(header_map::RESPONSE_TRAILERS),
        _ => None,
    }
}

const OK: u32 = Status::Ok.raw();
const NOT_FOUND: u32 = Status::NotFound.raw();
const BAD_ARGUMENT: u32 = Status::BadArgument.raw();
const UNIMPLEMENTED: u32 = Status::Unimplemented.raw();

impl HttpStream {
    /// Envoy's stream object `filter`, for calls from one of this thread's hooks.
    ///
    /// # Safety
    /// `filter` is Envoy's object of a stream of this thread that Envoy has not destroyed
    /// (its `destroy` hook has not run), and the value is used only on this thread, within
    /// the hook that made it (the stream's own, or one answering or timing something it
    /// started, while the stream is kept).
    pub unsafe fn new(filter: FilterEnvoyPtr) -> HttpStream {
        HttpStream(filter)
    }

    /// Shows `read` the value of `key` in Envoy's map `map`, borrowed from Envoy (not called
    /// if absent), and returns the proxy-wasm status.
    pub fn header(self, map: u32, key: &[u8], read: impl FnOnce(&[u8])) -> u32 {
        let Some(get) = callbacks().http_get_header else {
            return UNIMPLEMENTED;
        };
        let mut value = EnvoyBuffer::EMPTY;
        let count = std::ptr::null_mut();
        // SAFETY: the running hook's stream (see `new`), a key over a live slice, and a
        // local for the answer.
        let found = unsafe { get(self.0, map, ModuleBuffer::of(key), &mut value, 0, count) };
        if found && !value.ptr.is_null() {
            // SAFETY: Envoy filled `value` in the current hook; it stays valid until the map
            // changes, and `read` cannot change it.
            read(unsafe { value.bytes() });
            OK
        } else {
            NOT_FOUND
        }
    }

    /// Makes `write` to header `key` of map `map`; the proxy-wasm status.
    pub fn write_header(self, map: u32, key: &[u8], write: HeaderWrite<'_>) -> u32 {
        let callbacks = callbacks();
        let (write, value) = match write {
            HeaderWrite::Add(value) => (callbacks.http_add_header, ModuleBuffer::of(value)),
            HeaderWrite::Replace(value) => (callbacks.http_set_header, ModuleBuffer::of(value)),
            // The null buffer removes the header.
            HeaderWrite::Remove => (callbacks.http_set_header, ModuleBuffer::NULL),
        };
        let Some(write) = write else {
            return UNIMPLEMENTED;
        };
        // SAFETY: the running hook's stream (see `new`), with buffers over live slices (or
        // the null buffer).
        let written = unsafe { write(self.0, map, ModuleBuffer::of(key), value) };
        // Envoy answers false for a removal of a header the map lacks: not an error.
        if written || value.ptr.is_null() {
            OK
        } else {
            BAD_ARGUMENT
        }
    }

    /// Runs `read` on every header of map `map`, borrowed from Envoy; `None` if Envoy has
    /// no such map now. `read` cannot write to the map, so what it borrows stays valid
    /// while it runs.
    pub fn with_headers<R>(self, map: u32, read: impl FnOnce(Filled<'_>) -> R) -> Option<R> {
        let callbacks = callbacks();
        let (size, get) = (
            callbacks.http_get_headers_size?,
            callbacks.http_get_headers?,
        );
        // SAFETY: the running hook's stream (see `new`).
        let count = unsafe { size(self.0, map) };
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
        // SAFETY: the running hook's stream, and room for the `count` headers it reported.
        if !unsafe { get(self.0, map, slots.as_mut_ptr().cast()) } {
            return None;
        }
        // SAFETY: Envoy answered true, so it wrote one header into each of the `count`
        // slots `http_get_headers_size` asked for (`abi.h`: the array holds that many, and
        // `getHeadersImpl` writes every header of the map, which no call changed between).
        let slots = unsafe { std::slice::from_raw_parts(slots.as_ptr().cast(), count) };
        Some(read(Filled { slots }))
    }

    /// Every pair of map `map`, packed, with the proxy-wasm status.
    pub fn packed(self, map: u32) -> (u32, Packed) {
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
        match read {
            Some(packed) => (OK, packed),
            None => (BAD_ARGUMENT, Packed::default()),
        }
    }

    /// Replaces map `map` with `pairs` (a name repeated keeps each of its values, in
    /// order); the proxy-wasm status.
    pub fn set_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(self, map: u32, pairs: &[(K, V)]) -> u32 {
        // The old names are copied: the writes below change Envoy's map.
        let old_names = self.with_headers(map, |filled| {
            filled
                .pairs()
                .map(|(name, _)| name.to_vec())
                .collect::<Vec<_>>()
        });
        let Some(old_names) = old_names else {
            return BAD_ARGUMENT;
        };
        for name in &old_names {
            if !pairs.iter().any(|(new, _)| new.as_ref() == name.as_slice()) {
                self.write_header(map, name, HeaderWrite::Remove);
            }
        }
        let mut set: Vec<&[u8]> = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            let write = if set.contains(&name) {
                HeaderWrite::Add(value)
            } else {
                set.push(name);
                HeaderWrite::Replace(value)
            };
            let status = self.write_header(map, name, write);
            if status != OK {
                return status;
            }
        }
        OK
    }
}
