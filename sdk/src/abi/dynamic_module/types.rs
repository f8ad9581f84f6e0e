//! The ABI's value types: buffers and headers as Envoy and the module hand them over, and
//! the enumerations' wire values, from Envoy's `abi.h`.

/// Bytes Envoy owns, valid for the current event hook.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EnvoyBuffer {
    /// The first byte (null for none).
    pub ptr: *const u8,
    /// How many bytes.
    pub length: usize,
}

impl EnvoyBuffer {
    /// An empty buffer, for Envoy to fill in.
    pub const EMPTY: EnvoyBuffer = EnvoyBuffer {
        ptr: std::ptr::null(),
        length: 0,
    };

    /// The bytes.
    ///
    /// # Safety
    /// Envoy must have filled the buffer in the current event hook (or left it empty).
    pub unsafe fn bytes<'a>(&self) -> &'a [u8] {
        // SAFETY: Envoy's contract: `ptr` is valid for `length` bytes during the hook;
        // `input` maps a null pointer to empty.
        unsafe { crate::abi::native::input(self.ptr, self.length) }
    }
}

/// A stream's timing as Envoy 1.40 hands it to an HTTP filter
/// (`envoy_dynamic_module_type_timing_info_v2`): 19 nanosecond values, then whether each
/// is known. The first is the stream's start (`startTime()`, as Unix nanoseconds); the
/// others are offsets from it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TimingInfo {
    /// The values, the start first.
    pub nanos: [i64; 19],
    /// Whether each value is known, in the same order.
    pub known: [bool; 19],
}

// Envoy 1.40's `http_get_timing_info` writes 176 bytes: 19 `i64`s, 19 flags, padding to
// eight (read in its machine code: stores from offset 0 up to 0xb0).
const _: () = assert!(std::mem::size_of::<TimingInfo>() == 176);

impl TimingInfo {
    /// Nothing known, for Envoy to fill in.
    pub const UNKNOWN: TimingInfo = TimingInfo {
        nanos: [-1; 19],
        known: [false; 19],
    };

    /// When the stream started (Unix nanoseconds), if Envoy knew.
    pub fn start_unix_nanos(&self) -> Option<i64> {
        self.known[0].then_some(self.nanos[0])
    }
}

/// Bytes the module owns, valid for the call they are passed to.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ModuleBuffer {
    /// The first byte (null for none).
    pub ptr: *const u8,
    /// How many bytes.
    pub length: usize,
}

impl ModuleBuffer {
    /// A buffer over `bytes`.
    pub fn of(bytes: &[u8]) -> ModuleBuffer {
        ModuleBuffer {
            ptr: bytes.as_ptr(),
            length: bytes.len(),
        }
    }

    /// The null buffer (`set_header` removes the header when given it as the value).
    pub const NULL: ModuleBuffer = ModuleBuffer {
        ptr: std::ptr::null(),
        length: 0,
    };
}

/// A header Envoy owns.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EnvoyHeader {
    /// The name's first byte.
    pub key_ptr: *const u8,
    /// The name's length.
    pub key_length: usize,
    /// The value's first byte.
    pub value_ptr: *const u8,
    /// The value's length.
    pub value_length: usize,
}

impl EnvoyHeader {
    /// An empty slot, for Envoy to fill in.
    pub const EMPTY: EnvoyHeader = EnvoyHeader {
        key_ptr: std::ptr::null(),
        key_length: 0,
        value_ptr: std::ptr::null(),
        value_length: 0,
    };
}

/// A header the module owns.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ModuleHeader {
    /// The name's first byte.
    pub key_ptr: *const u8,
    /// The name's length.
    pub key_length: usize,
    /// The value's first byte.
    pub value_ptr: *const u8,
    /// The value's length.
    pub value_length: usize,
}

impl ModuleHeader {
    /// A header over `key` and `value`.
    pub fn of(key: &[u8], value: &[u8]) -> ModuleHeader {
        ModuleHeader {
            key_ptr: key.as_ptr(),
            key_length: key.len(),
            value_ptr: value.as_ptr(),
            value_length: value.len(),
        }
    }
}

/// `envoy_dynamic_module_type_http_header_type`: which header map.
pub mod header_map {
    /// Request headers.
    pub const REQUEST_HEADERS: u32 = 0;
    /// Request trailers.
    pub const REQUEST_TRAILERS: u32 = 1;
    /// Response headers.
    pub const RESPONSE_HEADERS: u32 = 2;
    /// Response trailers.
    pub const RESPONSE_TRAILERS: u32 = 3;
}

/// `envoy_dynamic_module_type_http_body_type`: which body buffer.
pub mod body {
    /// The request data of the current `request_body` hook.
    pub const RECEIVED_REQUEST: u32 = 0;
    /// The request data buffered by earlier hooks.
    pub const BUFFERED_REQUEST: u32 = 1;
    /// The response data of the current `response_body` hook.
    pub const RECEIVED_RESPONSE: u32 = 2;
    /// The response data buffered by earlier hooks.
    pub const BUFFERED_RESPONSE: u32 = 3;
}

/// What a headers, body, trailers or network-data hook returns (`..._status` in `abi.h`).
pub mod status {
    /// Go on to the next filter.
    pub const CONTINUE: u32 = 0;
    /// Hold the stream until the filter continues it: `StopIteration` for headers,
    /// trailers and network data (which stays in Envoy's buffer), `StopIterationAndBuffer`
    /// for a body.
    pub const STOP: u32 = 1;
}

/// `envoy_dynamic_module_type_network_connection_event`.
pub mod connection_event {
    /// The peer closed the connection.
    pub const REMOTE_CLOSE: u32 = 0;
    /// Envoy closed it.
    pub const LOCAL_CLOSE: u32 = 1;
}

/// `envoy_dynamic_module_type_network_connection_close_type`: how to close a connection.
pub mod close_type {
    /// Flush what was written first, then close (`LocalClose`).
    pub const FLUSH_WRITE: u32 = 0;
}

/// `envoy_dynamic_module_type_log_level`.
pub mod log_level {
    /// `trace`.
    pub const TRACE: u32 = 0;
    /// `error`.
    pub const ERROR: u32 = 4;
    /// `critical`; `off` follows it.
    pub const CRITICAL: u32 = 5;
}

/// `envoy_dynamic_module_type_http_callout_init_result`: whether a callout started.
pub mod callout_init {
    /// It started.
    pub const SUCCESS: u32 = 0;
    /// `:path`, `:method` or `host` is missing.
    pub const MISSING_REQUIRED_HEADERS: u32 = 1;
    /// No such cluster.
    pub const CLUSTER_NOT_FOUND: u32 = 2;
}

/// `envoy_dynamic_module_type_http_callout_result`: how a callout ended.
pub mod callout_result {
    /// A response arrived.
    pub const SUCCESS: u32 = 0;
    /// The call was reset (a timeout too).
    pub const RESET: u32 = 1;
    /// The response exceeded the buffer limit.
    pub const EXCEED_RESPONSE_BUFFER_LIMIT: u32 = 2;
}

/// `envoy_dynamic_module_type_metrics_result`.
pub mod metrics_result {
    /// Done.
    pub const SUCCESS: u32 = 0;
}

/// `envoy_dynamic_module_type_http_filter_stream_reset_reason`.
pub mod reset_reason {
    /// A local reset.
    pub const LOCAL_RESET: u32 = 0;
}
