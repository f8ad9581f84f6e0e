//! Enumerations and constants of the proxy-wasm ABI 0.2.1, with their wire values.

/// Status returned by every host function (`proxy_status_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// The call succeeded.
    Ok,
    /// The key, property, queue or metric was not found.
    NotFound,
    /// An argument was not valid for this call or this phase.
    BadArgument,
    /// A value could not be serialized.
    SerializationFailure,
    /// A value could not be parsed (also: unknown gRPC upstream).
    ParseFailure,
    /// A pointer or size given to the host was outside guest memory.
    InvalidMemoryAccess,
    /// The queue was empty.
    Empty,
    /// A compare-and-swap value did not match.
    CasMismatch,
    /// The host failed internally.
    InternalFailure,
    /// The host does not implement this call.
    Unimplemented,
    /// A status this ABI version does not define.
    Unknown(u32),
}

impl Status {
    /// Decodes a raw status.
    pub const fn from_raw(raw: u32) -> Status {
        match raw {
            0 => Status::Ok,
            1 => Status::NotFound,
            2 => Status::BadArgument,
            3 => Status::SerializationFailure,
            4 => Status::ParseFailure,
            6 => Status::InvalidMemoryAccess,
            7 => Status::Empty,
            8 => Status::CasMismatch,
            10 => Status::InternalFailure,
            12 => Status::Unimplemented,
            other => Status::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn raw(self) -> u32 {
        match self {
            Status::Ok => 0,
            Status::NotFound => 1,
            Status::BadArgument => 2,
            Status::SerializationFailure => 3,
            Status::ParseFailure => 4,
            Status::InvalidMemoryAccess => 6,
            Status::Empty => 7,
            Status::CasMismatch => 8,
            Status::InternalFailure => 10,
            Status::Unimplemented => 12,
            Status::Unknown(raw) => raw,
        }
    }
}

/// Log levels (`proxy_log_level_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum LogLevel {
    /// Most verbose.
    Trace = 0,
    /// Debugging detail.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something unexpected that the filter handled.
    Warn = 3,
    /// Something failed.
    Error = 4,
    /// The filter cannot go on (used for panics).
    Critical = 5,
}

impl LogLevel {
    /// Decodes a raw level; values above `Critical` count as `Critical`.
    pub const fn from_raw(raw: u32) -> LogLevel {
        match raw {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            _ => LogLevel::Critical,
        }
    }
}

/// What a stream callback tells the host to do next (`proxy_action_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Forward what was received and go on with the next filter.
    Continue,
    /// Stop here; the host buffers what arrives until the stream is resumed.
    Pause,
}

impl Action {
    /// The wire value.
    pub const fn raw(self) -> u32 {
        match self {
            Action::Continue => 0,
            Action::Pause => 1,
        }
    }
}

/// Header-like maps the host holds (`proxy_map_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum MapType {
    /// Request headers.
    HttpRequestHeaders = 0,
    /// Request trailers.
    HttpRequestTrailers = 1,
    /// Response headers.
    HttpResponseHeaders = 2,
    /// Response trailers.
    HttpResponseTrailers = 3,
    /// Initial metadata of a gRPC callout.
    GrpcReceiveInitialMetadata = 4,
    /// Trailing metadata of a gRPC callout.
    GrpcReceiveTrailingMetadata = 5,
    /// Response headers of an HTTP callout.
    HttpCallResponseHeaders = 6,
    /// Response trailers of an HTTP callout.
    HttpCallResponseTrailers = 7,
}

/// Byte buffers the host holds (`proxy_buffer_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum BufferType {
    /// Request body (chunk or buffered body).
    HttpRequestBody = 0,
    /// Response body (chunk or buffered body).
    HttpResponseBody = 1,
    /// Bytes from the downstream connection (network filters).
    DownstreamData = 2,
    /// Bytes from the upstream connection (network filters).
    UpstreamData = 3,
    /// Body of an HTTP callout's response.
    HttpCallResponseBody = 4,
    /// Message of a gRPC callout.
    GrpcReceiveBuffer = 5,
    /// The VM configuration, during `proxy_on_vm_start`.
    VmConfiguration = 6,
    /// The plugin configuration, during `proxy_on_configure`.
    PluginConfiguration = 7,
    /// Arguments of a foreign function call, during `proxy_on_foreign_function`.
    ForeignFunctionArguments = 8,
}

/// Streams that can be resumed or closed (`proxy_stream_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum StreamType {
    /// The HTTP request direction.
    HttpRequest = 0,
    /// The HTTP response direction.
    HttpResponse = 1,
    /// Downstream connection (network filters).
    Downstream = 2,
    /// Upstream connection (network filters).
    Upstream = 3,
}

/// Metric kinds (`proxy_metric_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum MetricType {
    /// Monotonic counter.
    Counter = 0,
    /// Value that goes up and down.
    Gauge = 1,
    /// Distribution of recorded values.
    Histogram = 2,
}

/// Decodes the integers the ABI passes for these enums; `None` for a value this ABI
/// version does not define.
macro_rules! from_raw {
    ($($enum:ident { $($variant:ident),* })*) => {
        $(
            impl $enum {
                /// The variant the ABI's integer `raw` stands for.
                pub const fn from_raw(raw: u32) -> Option<$enum> {
                    $(
                        if raw == $enum::$variant as u32 {
                            return Some($enum::$variant);
                        }
                    )*
                    None
                }
            }
        )*
    };
}

from_raw! {
    MapType {
        HttpRequestHeaders, HttpRequestTrailers, HttpResponseHeaders, HttpResponseTrailers,
        GrpcReceiveInitialMetadata, GrpcReceiveTrailingMetadata, HttpCallResponseHeaders,
        HttpCallResponseTrailers
    }
    BufferType {
        HttpRequestBody, HttpResponseBody, DownstreamData, UpstreamData, HttpCallResponseBody,
        GrpcReceiveBuffer, VmConfiguration, PluginConfiguration, ForeignFunctionArguments
    }
    StreamType { HttpRequest, HttpResponse, Downstream, Upstream }
    MetricType { Counter, Gauge, Histogram }
}

/// Which side closed a connection (`proxy_peer_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerType {
    /// Not known.
    Unknown,
    /// This proxy.
    Local,
    /// The remote peer.
    Remote,
}

impl PeerType {
    /// Decodes a raw peer type.
    pub const fn from_raw(raw: u32) -> PeerType {
        match raw {
            1 => PeerType::Local,
            2 => PeerType::Remote,
            _ => PeerType::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_wire_value() {
        for raw in 0..16 {
            assert_eq!(Status::from_raw(raw).raw(), raw);
        }
        assert_eq!(Status::from_raw(8), Status::CasMismatch);
        assert_eq!(Status::from_raw(5), Status::Unknown(5));
    }
}
