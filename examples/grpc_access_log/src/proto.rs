//! The collector's service, as `prost` types:
//!
//! ```proto
//! package accesslog.v1;
//! service Collector { rpc Report(stream Entry) returns (Summary); }
//! message Entry {
//!   string method = 1; string path = 2; uint32 status = 3;
//!   uint64 duration_ms = 4; string request_id = 5;
//! }
//! ```

/// The service, as Envoy's gRPC client names it.
pub const SERVICE: &str = "accesslog.v1.Collector";
/// The client-streaming method.
pub const METHOD: &str = "Report";

/// One HTTP stream's summary.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Entry {
    /// `:method`.
    #[prost(string, tag = "1")]
    pub method: String,
    /// `:path`.
    #[prost(string, tag = "2")]
    pub path: String,
    /// The response's status code (0 if there was none).
    #[prost(uint32, tag = "3")]
    pub status: u32,
    /// From the request's headers to the stream's end, on the host's clock.
    #[prost(uint64, tag = "4")]
    pub duration_ms: u64,
    /// `x-request-id`.
    #[prost(string, tag = "5")]
    pub request_id: String,
}
