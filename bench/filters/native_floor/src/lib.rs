//! The benchmark workloads as a dynamic module written straight against Envoy's C ABI, no
//! SDK: what the native target costs at the least, beside the SDK's native build. Filter
//! configuration: `header`, `multi` or `body`. Linux only: Envoy's callbacks are resolved when
//! Envoy loads the library.
#![cfg(target_os = "linux")]
#![allow(clippy::missing_safety_doc)]

use std::ffi::c_void;

/// The module's own allocator, as the SDK's native build has.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[repr(C)]
#[derive(Clone, Copy)]
/// A pointer and a length, as the ABI passes bytes.
pub struct Buffer {
    ptr: *const u8,
    len: usize,
}

fn buffer(bytes: &[u8]) -> Buffer {
    Buffer {
        ptr: bytes.as_ptr(),
        len: bytes.len(),
    }
}

const REQUEST_HEADERS: u32 = 0;
const RESPONSE_HEADERS: u32 = 2;
const CONTINUE: u32 = 0;
const STOP_ITERATION: u32 = 1;
/// A body hook's "hold and buffer the data".
const STOP_ITERATION_AND_BUFFER: u32 = 1;
/// Body buffers: the data of the current hook, and what earlier hooks buffered.
const RECEIVED_REQUEST_BODY: u32 = 0;
const BUFFERED_REQUEST_BODY: u32 = 1;

unsafe extern "C" {
    fn envoy_dynamic_module_callback_http_get_header(
        filter: *mut c_void,
        map: u32,
        key: Buffer,
        result: *mut Buffer,
        index: usize,
        count: *mut usize,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_header(
        filter: *mut c_void,
        map: u32,
        key: Buffer,
        value: Buffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_add_header(
        filter: *mut c_void,
        map: u32,
        key: Buffer,
        value: Buffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_get_body_size(filter: *mut c_void, which: u32) -> usize;
    fn envoy_dynamic_module_callback_http_get_body_chunks_size(
        filter: *mut c_void,
        which: u32,
    ) -> usize;
    fn envoy_dynamic_module_callback_http_get_body_chunks(
        filter: *mut c_void,
        which: u32,
        result: *mut Buffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_drain_body(
        filter: *mut c_void,
        which: u32,
        bytes: usize,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_append_body(
        filter: *mut c_void,
        which: u32,
        data: Buffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_send_response(
        filter: *mut c_void,
        status: u32,
        headers: *mut c_void,
        header_count: usize,
        body: Buffer,
        details: Buffer,
    );
}

/// The configuration's pointer encodes the workload: 1 for header, 2 for multi, 3 for body.
const HEADER: usize = 1;
const MULTI: usize = 2;
const BODY: usize = 3;

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const std::ffi::c_char {
    c"v0.2.0".as_ptr()
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    _config: *mut c_void,
    _name: Buffer,
    config: Buffer,
) -> *const c_void {
    // SAFETY: Envoy's buffer, valid during this hook.
    let workload = unsafe { std::slice::from_raw_parts(config.ptr, config.len) };
    match workload {
        b"header" => HEADER as *const c_void,
        b"multi" => MULTI as *const c_void,
        b"body" => BODY as *const c_void,
        _ => std::ptr::null(),
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(_config: *const c_void) {}

/// Nothing per stream: the filter's "object" is the workload.
#[unsafe(no_mangle)]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: *const c_void,
    _filter: *mut c_void,
) -> *const c_void {
    config
}

/// Header `name` of the request, empty when absent.
unsafe fn request_header<'a>(filter: *mut c_void, name: &[u8]) -> &'a [u8] {
    let mut value = Buffer {
        ptr: std::ptr::null(),
        len: 0,
    };
    // SAFETY: Envoy's filter in its hook; `value` is a live local.
    unsafe {
        envoy_dynamic_module_callback_http_get_header(
            filter,
            REQUEST_HEADERS,
            buffer(name),
            &mut value,
            0,
            std::ptr::null_mut(),
        );
    }
    if value.ptr.is_null() {
        &[]
    } else {
        // SAFETY: Envoy's bytes, valid during this hook.
        unsafe { std::slice::from_raw_parts(value.ptr, value.len) }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter: *mut c_void,
    workload: *const c_void,
    end_of_stream: bool,
) -> u32 {
    // SAFETY: Envoy's filter, in its hook.
    unsafe {
        if workload as usize == BODY {
            // The body will change size: Envoy recomputes the length without the header.
            if !end_of_stream {
                envoy_dynamic_module_callback_http_set_header(
                    filter,
                    REQUEST_HEADERS,
                    buffer(b"content-length"),
                    Buffer {
                        ptr: std::ptr::null(),
                        len: 0,
                    },
                );
            }
            return CONTINUE;
        }
        if workload as usize == MULTI {
            let method = request_header(filter, b":method");
            let authority = request_header(filter, b":authority");
            let path = request_header(filter, b":path");
            let b1 = request_header(filter, b"x-b1");
            let b2 = request_header(filter, b"x-b2");
            let target = [method, b" ", authority, path].concat();
            let route = [b1, b"/", b2].concat();
            envoy_dynamic_module_callback_http_set_header(
                filter,
                REQUEST_HEADERS,
                buffer(b"x-target"),
                buffer(&target),
            );
            envoy_dynamic_module_callback_http_set_header(
                filter,
                REQUEST_HEADERS,
                buffer(b"x-route"),
                buffer(&route),
            );
            return CONTINUE;
        }
        if request_header(filter, b":path").first() == Some(&b'/') {
            return CONTINUE;
        }
        envoy_dynamic_module_callback_http_send_response(
            filter,
            400,
            std::ptr::null_mut(),
            0,
            buffer(b"bad path"),
            buffer(b""),
        );
        STOP_ITERATION
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    filter: *mut c_void,
    workload: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    let value: &[u8] = match workload as usize {
        MULTI => b"multi",
        BODY => b"body",
        _ => b"header",
    };
    // SAFETY: Envoy's filter, in its hook.
    unsafe {
        envoy_dynamic_module_callback_http_add_header(
            filter,
            RESPONSE_HEADERS,
            buffer(b"x-bench"),
            buffer(value),
        );
    }
    CONTINUE
}

/// The request body, whole: what earlier hooks buffered, then this hook's data, copied
/// once into one allocation of the right size.
unsafe fn request_body(filter: *mut c_void) -> Vec<u8> {
    // SAFETY: Envoy's filter, in its body hook; each chunk array has the room Envoy said.
    unsafe {
        let size = envoy_dynamic_module_callback_http_get_body_size(filter, BUFFERED_REQUEST_BODY)
            + envoy_dynamic_module_callback_http_get_body_size(filter, RECEIVED_REQUEST_BODY);
        let mut bytes = Vec::with_capacity(size);
        for which in [BUFFERED_REQUEST_BODY, RECEIVED_REQUEST_BODY] {
            let count = envoy_dynamic_module_callback_http_get_body_chunks_size(filter, which);
            let mut chunks = vec![
                Buffer {
                    ptr: std::ptr::null(),
                    len: 0
                };
                count
            ];
            if count > 0
                && envoy_dynamic_module_callback_http_get_body_chunks(
                    filter,
                    which,
                    chunks.as_mut_ptr(),
                )
            {
                for chunk in chunks.iter().filter(|chunk| !chunk.ptr.is_null()) {
                    bytes.extend_from_slice(std::slice::from_raw_parts(chunk.ptr, chunk.len));
                }
            }
        }
        bytes
    }
}

/// body: once the whole request is buffered, replace the top-level `password` and `card`
/// and forward the rewritten body (as the SDK's `body` workload does).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    filter: *mut c_void,
    workload: *const c_void,
    end_of_stream: bool,
) -> u32 {
    if workload as usize != BODY {
        return CONTINUE;
    }
    if !end_of_stream {
        return STOP_ITERATION_AND_BUFFER;
    }
    // SAFETY: Envoy's filter, in its body hook.
    unsafe {
        let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&request_body(filter))
        else {
            envoy_dynamic_module_callback_http_send_response(
                filter,
                400,
                std::ptr::null_mut(),
                0,
                buffer(b"invalid JSON"),
                buffer(b""),
            );
            return STOP_ITERATION;
        };
        if let Some(fields) = json.as_object_mut() {
            for name in ["password", "card"] {
                if let Some(value) = fields.get_mut(name) {
                    *value = serde_json::Value::from("[redacted]");
                }
            }
        }
        let rewritten = serde_json::to_vec(&json).unwrap_or_default();
        for which in [BUFFERED_REQUEST_BODY, RECEIVED_REQUEST_BODY] {
            let size = envoy_dynamic_module_callback_http_get_body_size(filter, which);
            envoy_dynamic_module_callback_http_drain_body(filter, which, size);
        }
        envoy_dynamic_module_callback_http_append_body(
            filter,
            RECEIVED_REQUEST_BODY,
            buffer(&rewritten),
        );
    }
    CONTINUE
}

/// The hooks Envoy requires that these workloads do not use.
macro_rules! unused_hooks {
    ($($name:ident($($arg:ty),*) $(-> $ret:ty = $value:expr)?;)*) => {$(
        #[unsafe(no_mangle)]
        pub extern "C" fn $name($(_: $arg),*) $(-> $ret)? { $($value)? }
    )*};
}

unused_hooks! {
    envoy_dynamic_module_on_http_filter_request_trailers(*mut c_void, *const c_void) -> u32 = CONTINUE;
    envoy_dynamic_module_on_http_filter_response_body(*mut c_void, *const c_void, bool) -> u32 = CONTINUE;
    envoy_dynamic_module_on_http_filter_response_trailers(*mut c_void, *const c_void) -> u32 = CONTINUE;
    envoy_dynamic_module_on_http_filter_stream_complete(*mut c_void, *const c_void);
    envoy_dynamic_module_on_http_filter_destroy(*const c_void);
    envoy_dynamic_module_on_http_filter_http_callout_done(*mut c_void, *const c_void, u64, u32, *const c_void, usize, *const c_void, usize);
    envoy_dynamic_module_on_http_filter_http_stream_headers(*mut c_void, *const c_void, u64, *const c_void, usize, bool);
    envoy_dynamic_module_on_http_filter_http_stream_data(*mut c_void, *const c_void, u64, *const c_void, usize, bool);
    envoy_dynamic_module_on_http_filter_http_stream_trailers(*mut c_void, *const c_void, u64, *const c_void, usize);
    envoy_dynamic_module_on_http_filter_http_stream_complete(*mut c_void, *const c_void, u64);
    envoy_dynamic_module_on_http_filter_http_stream_reset(*mut c_void, *const c_void, u64, u32);
    envoy_dynamic_module_on_http_filter_scheduled(*mut c_void, *const c_void, u64);
    envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(*mut c_void, *const c_void);
    envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(*mut c_void, *const c_void);
}
