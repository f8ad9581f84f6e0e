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

/// What a headers hook returns (`..._headers_status`).
pub mod headers_status {
    /// Go on to the next filter.
    pub const CONTINUE: u32 = 0;
    /// Hold the headers until the filter continues the stream.
    pub const STOP_ITERATION: u32 = 1;
}

/// What a body hook returns (`..._body_status`).
pub mod body_status {
    /// Go on to the next filter.
    pub const CONTINUE: u32 = 0;
    /// Hold and buffer the data until the filter continues the stream.
    pub const STOP_ITERATION_AND_BUFFER: u32 = 1;
}

/// What a trailers hook returns (`..._trailers_status`).
pub mod trailers_status {
    /// Go on to the next filter.
    pub const CONTINUE: u32 = 0;
    /// Hold the trailers until the filter continues the stream.
    pub const STOP_ITERATION: u32 = 1;
}

/// What a network filter's hook returns (`envoy_dynamic_module_type_on_network_filter_data_status`).
pub mod network_status {
    /// Go on to the next filter.
    pub const CONTINUE: u32 = 0;
    /// Hold the data (it stays in the buffer) until the filter continues reading.
    pub const STOP_ITERATION: u32 = 1;
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
    /// Close now.
    pub const NO_FLUSH: u32 = 1;
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

/// `envoy_dynamic_module_type_attribute_id`: Envoy's attributes, by position in the enum.
pub mod attribute {
    /// `request.path`.
    pub const REQUEST_PATH: u32 = 0;
    /// `request.url_path`.
    pub const REQUEST_URL_PATH: u32 = 1;
    /// `request.host`.
    pub const REQUEST_HOST: u32 = 2;
    /// `request.scheme`.
    pub const REQUEST_SCHEME: u32 = 3;
    /// `request.method`.
    pub const REQUEST_METHOD: u32 = 4;
    /// `request.referer`.
    pub const REQUEST_REFERER: u32 = 6;
    /// `request.useragent`.
    pub const REQUEST_USER_AGENT: u32 = 7;
    /// `request.time`.
    pub const REQUEST_TIME: u32 = 8;
    /// `request.id`.
    pub const REQUEST_ID: u32 = 9;
    /// `request.protocol`.
    pub const REQUEST_PROTOCOL: u32 = 10;
    /// `request.query`.
    pub const REQUEST_QUERY: u32 = 11;
    /// `request.duration`.
    pub const REQUEST_DURATION: u32 = 12;
    /// `request.size`.
    pub const REQUEST_SIZE: u32 = 13;
    /// `request.total_size`.
    pub const REQUEST_TOTAL_SIZE: u32 = 14;
    /// `response.code`.
    pub const RESPONSE_CODE: u32 = 15;
    /// `response.code_details`.
    pub const RESPONSE_CODE_DETAILS: u32 = 16;
    /// `response.flags`.
    pub const RESPONSE_FLAGS: u32 = 17;
    /// `response.grpc_status`.
    pub const RESPONSE_GRPC_STATUS: u32 = 18;
    /// `response.size`.
    pub const RESPONSE_SIZE: u32 = 21;
    /// `response.total_size`.
    pub const RESPONSE_TOTAL_SIZE: u32 = 22;
    /// `response.backend_latency`.
    pub const RESPONSE_BACKEND_LATENCY: u32 = 23;
    /// `source.address`.
    pub const SOURCE_ADDRESS: u32 = 24;
    /// `source.port`.
    pub const SOURCE_PORT: u32 = 25;
    /// `destination.address`.
    pub const DESTINATION_ADDRESS: u32 = 26;
    /// `destination.port`.
    pub const DESTINATION_PORT: u32 = 27;
    /// `connection.id`.
    pub const CONNECTION_ID: u32 = 28;
    /// `connection.mtls`.
    pub const CONNECTION_MTLS: u32 = 29;
    /// `connection.requested_server_name`.
    pub const CONNECTION_REQUESTED_SERVER_NAME: u32 = 30;
    /// `connection.tls_version`.
    pub const CONNECTION_TLS_VERSION: u32 = 31;
    /// `connection.subject_peer_certificate`.
    pub const CONNECTION_SUBJECT_PEER_CERTIFICATE: u32 = 33;
    /// `connection.dns_san_peer_certificate`.
    pub const CONNECTION_DNS_SAN_PEER_CERTIFICATE: u32 = 35;
    /// `connection.uri_san_peer_certificate`.
    pub const CONNECTION_URI_SAN_PEER_CERTIFICATE: u32 = 37;
    /// `connection.sha256_peer_certificate_digest`.
    pub const CONNECTION_SHA256_PEER_CERTIFICATE_DIGEST: u32 = 38;
    /// `connection.termination_details`.
    pub const CONNECTION_TERMINATION_DETAILS: u32 = 40;
    /// `upstream.address`.
    pub const UPSTREAM_ADDRESS: u32 = 41;
    /// `upstream.port`.
    pub const UPSTREAM_PORT: u32 = 42;
    /// `upstream.tls_version`.
    pub const UPSTREAM_TLS_VERSION: u32 = 43;
    /// `upstream.local_address`.
    pub const UPSTREAM_LOCAL_ADDRESS: u32 = 51;
    /// `upstream.transport_failure_reason`.
    pub const UPSTREAM_TRANSPORT_FAILURE_REASON: u32 = 52;
    /// `upstream.request_attempt_count`.
    pub const UPSTREAM_REQUEST_ATTEMPT_COUNT: u32 = 53;
    /// `xds.cluster_name`.
    pub const XDS_CLUSTER_NAME: u32 = 57;
    /// `xds.listener_direction`.
    pub const XDS_LISTENER_DIRECTION: u32 = 59;
    /// `xds.route_name`.
    pub const XDS_ROUTE_NAME: u32 = 61;
    /// `xds.virtual_host_name`.
    pub const XDS_VIRTUAL_HOST_NAME: u32 = 63;
    /// `xds.filter_chain_name`.
    pub const XDS_FILTER_CHAIN_NAME: u32 = 66;
}
