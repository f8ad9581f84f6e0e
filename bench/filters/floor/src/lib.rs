//! The benchmark workloads written straight against the ABI, exporting only the callbacks
//! they use and making the fewest host calls the work allows: the cost floor a wasm filter
//! can reach. Plugin configuration: `header` or `multi`.
//!
//! Exact in every topology: each plugin context keeps its own workload, and each stream
//! the one of the plugin context Envoy created it under (`proxy_on_context_create`), freed
//! in `proxy_on_delete`, so several configurations of the module in one VM each serve
//! their own streams. A floor that bound streams to the wrong plugin would not be one.
#![cfg(target_arch = "wasm32")]

#[path = "../../raw.rs"]
mod raw;

use raw::*;
use std::cell::RefCell;

thread_local! {
    /// Each plugin context's workload (`true`: multi).
    static ROOTS: RefCell<Vec<(u32, bool)>> = const { RefCell::new(Vec::new()) };
    /// Each live stream's workload, from its plugin context.
    static STREAMS: RefCell<Vec<(u32, bool)>> = const { RefCell::new(Vec::new()) };
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(root: u32, size: usize) -> u32 {
    let multi = match raw::configure(size).as_slice() {
        b"header" => false,
        b"multi" => true,
        _ => return 0,
    };
    ROOTS.with_borrow_mut(|roots| {
        roots.retain(|(id, _)| *id != root);
        roots.push((root, multi));
    });
    1
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_context_create(context: u32, parent: u32) {
    if parent == 0 {
        return;
    }
    let multi = ROOTS.with_borrow(|roots| roots.iter().find(|(id, _)| *id == parent).map(|r| r.1));
    STREAMS.with_borrow_mut(|streams| streams.push((context, multi.unwrap_or(false))));
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_delete(context: u32) {
    STREAMS.with_borrow_mut(|streams| {
        if let Some(at) = streams.iter().position(|(id, _)| *id == context) {
            streams.swap_remove(at);
        }
    });
}

/// The workload of stream `context` (`true`: multi).
fn multi(context: u32) -> bool {
    STREAMS.with_borrow(|streams| streams.iter().any(|&(id, multi)| id == context && multi))
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_headers(context: u32, _headers: usize, _eos: u32) -> u32 {
    if multi(context) {
        multi_request()
    } else {
        header_request()
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_headers(context: u32, _headers: usize, _eos: u32) -> u32 {
    let (name, value): (&[u8], &[u8]) = if multi(context) {
        (b"x-bench", b"multi")
    } else {
        (b"x-bench", b"header")
    };
    unsafe {
        proxy_add_header_map_value(
            RESPONSE_HEADERS,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        );
    }
    CONTINUE
}

fn bad_request() -> u32 {
    let body = b"bad path";
    unsafe {
        proxy_send_local_response(
            400,
            core::ptr::null(),
            0,
            body.as_ptr(),
            body.len(),
            core::ptr::null(),
            0,
            -1,
        );
    }
    PAUSE
}

/// header: read `:path`.
fn header_request() -> u32 {
    let name = b":path";
    let (mut ptr, mut len) = (core::ptr::null_mut(), 0);
    unsafe {
        proxy_get_header_map_value(
            REQUEST_HEADERS,
            name.as_ptr(),
            name.len(),
            &mut ptr,
            &mut len,
        )
    };
    let good = len > 0 && unsafe { *ptr } == b'/';
    unsafe { free(ptr, len) };
    if good { CONTINUE } else { bad_request() }
}

/// multi: one pairs read for the 5 headers, 2 replaces.
fn multi_request() -> u32 {
    let (mut ptr, mut len) = (core::ptr::null_mut(), 0);
    unsafe { proxy_get_header_map_pairs(REQUEST_HEADERS, &mut ptr, &mut len) };
    if ptr.is_null() {
        return bad_request();
    }
    let pairs = unsafe { core::slice::from_raw_parts(ptr, len) };
    let none: &[u8] = b"";
    let (mut method, mut authority, mut path, mut b1, mut b2) = (none, none, none, none, none);
    // Layout: count, then (name size, value size) per pair, then each name and value
    // followed by a NUL.
    let word = |at: usize| {
        u32::from_le_bytes([pairs[at], pairs[at + 1], pairs[at + 2], pairs[at + 3]]) as usize
    };
    let count = word(0);
    let mut data = 4 + count * 8;
    for i in 0..count {
        let (name_len, value_len) = (word(4 + i * 8), word(8 + i * 8));
        let name = &pairs[data..data + name_len];
        let value = &pairs[data + name_len + 1..data + name_len + 1 + value_len];
        data += name_len + value_len + 2;
        match name {
            b":method" => method = value,
            b":authority" => authority = value,
            b":path" => path = value,
            b"x-b1" => b1 = value,
            b"x-b2" => b2 = value,
            _ => {}
        }
    }
    let mut target = Vec::with_capacity(method.len() + authority.len() + path.len() + 1);
    target.extend_from_slice(method);
    target.push(b' ');
    target.extend_from_slice(authority);
    target.extend_from_slice(path);
    let mut route = Vec::with_capacity(b1.len() + b2.len() + 1);
    route.extend_from_slice(b1);
    route.push(b'/');
    route.extend_from_slice(b2);
    unsafe {
        proxy_replace_header_map_value(
            REQUEST_HEADERS,
            b"x-target".as_ptr(),
            8,
            target.as_ptr(),
            target.len(),
        );
        proxy_replace_header_map_value(
            REQUEST_HEADERS,
            b"x-route".as_ptr(),
            7,
            route.as_ptr(),
            route.len(),
        );
        free(ptr, len);
    }
    CONTINUE
}
