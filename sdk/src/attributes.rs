//! Envoy's attributes, typed: each constant names a path and the Rust type its value
//! decodes to, so `props.attribute(attributes::REQUEST_TIME)` is a `SystemTime`.
//!
//! ```no_run
//! use envoy_wasm_sdk::attributes::{self, REQUEST_DURATION, RESPONSE_CODE, SOURCE_PORT};
//! use envoy_wasm_sdk::prelude::*;
//!
//! struct Timing;
//! #[http_filter]
//! impl HttpFilter for Timing {
//!     fn on_stream_done(&mut self, done: &mut StreamDoneOps) {
//!         let props = done.properties();
//!         if let (Ok(Some(code)), Ok(Some(took))) = (props.attribute(RESPONSE_CODE), props.attribute(REQUEST_DURATION)) {
//!             log::info!("{code} in {took:?} from port {:?}", props.attribute(SOURCE_PORT));
//!         }
//!     }
//! }
//! ```
//!
//! How Envoy encodes them: strings as bytes, integers as 8 little-endian bytes, booleans as
//! one byte, durations and timestamps as 8-byte nanosecond counts, header maps as serialized
//! pairs. What this table does not cover (metadata, `node`) is there raw through
//! [`Properties::get`](crate::Properties::get).

use crate::abi::pairs;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime};

/// An attribute: its path and the type its value decodes to.
#[derive(Debug)]
pub struct Attribute<T> {
    path: &'static [&'static str],
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Attribute<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Attribute<T> {}

impl<T> Attribute<T> {
    /// An attribute at `path` (segments, as in `["request", "path"]`).
    pub const fn new(path: &'static [&'static str]) -> Attribute<T> {
        Attribute {
            path,
            _value: PhantomData,
        }
    }

    /// Its path.
    pub fn path(&self) -> &'static [&'static str] {
        self.path
    }
}

/// A type an attribute's bytes decode to.
pub trait AttributeValue: Sized {
    /// Decodes Envoy's encoding; `None` if the bytes do not fit the type.
    fn decode(bytes: Vec<u8>) -> Option<Self>;
}

impl AttributeValue for String {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        String::from_utf8(bytes).ok()
    }
}

impl AttributeValue for Vec<u8> {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(bytes)
    }
}

impl AttributeValue for i64 {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(i64::from_le_bytes(bytes.try_into().ok()?))
    }
}

impl AttributeValue for u64 {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }
}

impl AttributeValue for bool {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        match bytes.as_slice() {
            [byte] => Some(*byte != 0),
            _ => None,
        }
    }
}

impl AttributeValue for Duration {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(Duration::from_nanos(
            u64::try_from(i64::decode(bytes)?).ok()?,
        ))
    }
}

impl AttributeValue for SystemTime {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(SystemTime::UNIX_EPOCH + Duration::decode(bytes)?)
    }
}

/// Header maps (`request.headers`, ...): pairs in order, values as text (lossy).
impl AttributeValue for Vec<(String, String)> {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Some(
            pairs::decode(&bytes)
                .ok()?
                .into_iter()
                .map(|(k, v)| (text(k), text(v)))
                .collect(),
        )
    }
}

macro_rules! attributes {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty = [$($segment:literal),+]; )*) => {
        $( $(#[$doc])* pub const $name: Attribute<$ty> = Attribute::new(&[$($segment),+]); )*

        /// Every attribute of this table, by path (for tools and tests).
        pub const ALL: &[&[&str]] = &[$( &[$($segment),+] ),*];
    };
}

/// A header map, as attributes carry them.
pub type HeaderPairs = Vec<(String, String)>;

attributes! {
    /// `request.path`: path with query.
    REQUEST_PATH: String = ["request", "path"];
    /// `request.url_path`: path without query.
    REQUEST_URL_PATH: String = ["request", "url_path"];
    /// `request.host`: `:authority`.
    REQUEST_HOST: String = ["request", "host"];
    /// `request.scheme`.
    REQUEST_SCHEME: String = ["request", "scheme"];
    /// `request.method`.
    REQUEST_METHOD: String = ["request", "method"];
    /// `request.headers`.
    REQUEST_HEADERS: HeaderPairs = ["request", "headers"];
    /// `request.referer`.
    REQUEST_REFERER: String = ["request", "referer"];
    /// `request.useragent`.
    REQUEST_USERAGENT: String = ["request", "useragent"];
    /// `request.time`: when the first byte arrived.
    REQUEST_TIME: SystemTime = ["request", "time"];
    /// `request.id`: `x-request-id`.
    REQUEST_ID: String = ["request", "id"];
    /// `request.protocol`: `HTTP/1.1`, `HTTP/2`, ...
    REQUEST_PROTOCOL: String = ["request", "protocol"];
    /// `request.query`: the query string without `?`.
    REQUEST_QUERY: String = ["request", "query"];
    /// `request.duration`: first to last request byte.
    REQUEST_DURATION: Duration = ["request", "duration"];
    /// `request.size`: body size.
    REQUEST_SIZE: i64 = ["request", "size"];
    /// `request.total_size`: headers and body.
    REQUEST_TOTAL_SIZE: i64 = ["request", "total_size"];
    /// `response.code`.
    RESPONSE_CODE: i64 = ["response", "code"];
    /// `response.code_details`.
    RESPONSE_CODE_DETAILS: String = ["response", "code_details"];
    /// `response.flags`: Envoy's response flags as a bit set.
    RESPONSE_FLAGS: i64 = ["response", "flags"];
    /// `response.grpc_status`.
    RESPONSE_GRPC_STATUS: i64 = ["response", "grpc_status"];
    /// `response.headers`.
    RESPONSE_HEADERS: HeaderPairs = ["response", "headers"];
    /// `response.trailers`.
    RESPONSE_TRAILERS: HeaderPairs = ["response", "trailers"];
    /// `response.size`: body size.
    RESPONSE_SIZE: i64 = ["response", "size"];
    /// `response.total_size`.
    RESPONSE_TOTAL_SIZE: i64 = ["response", "total_size"];
    /// `response.backend_latency`.
    RESPONSE_BACKEND_LATENCY: Duration = ["response", "backend_latency"];
    /// `source.address`: `ip:port` of the downstream peer.
    SOURCE_ADDRESS: String = ["source", "address"];
    /// `source.port`.
    SOURCE_PORT: i64 = ["source", "port"];
    /// `destination.address`: `ip:port` the downstream connected to.
    DESTINATION_ADDRESS: String = ["destination", "address"];
    /// `destination.port`.
    DESTINATION_PORT: i64 = ["destination", "port"];
    /// `connection.id`.
    CONNECTION_ID: u64 = ["connection", "id"];
    /// `connection.mtls`: whether the peer presented a verified certificate.
    CONNECTION_MTLS: bool = ["connection", "mtls"];
    /// `connection.requested_server_name`: SNI.
    CONNECTION_REQUESTED_SERVER_NAME: String = ["connection", "requested_server_name"];
    /// `connection.tls_version`.
    CONNECTION_TLS_VERSION: String = ["connection", "tls_version"];
    /// `connection.subject_peer_certificate`.
    CONNECTION_SUBJECT_PEER_CERTIFICATE: String = ["connection", "subject_peer_certificate"];
    /// `connection.uri_san_peer_certificate`.
    CONNECTION_URI_SAN_PEER_CERTIFICATE: String = ["connection", "uri_san_peer_certificate"];
    /// `connection.dns_san_peer_certificate`.
    CONNECTION_DNS_SAN_PEER_CERTIFICATE: String = ["connection", "dns_san_peer_certificate"];
    /// `connection.sha256_peer_certificate_digest`.
    CONNECTION_SHA256_PEER_CERTIFICATE_DIGEST: String = ["connection", "sha256_peer_certificate_digest"];
    /// `connection.termination_details`.
    CONNECTION_TERMINATION_DETAILS: String = ["connection", "termination_details"];
    /// `upstream.address`: `ip:port` of the upstream host.
    UPSTREAM_ADDRESS: String = ["upstream", "address"];
    /// `upstream.port`.
    UPSTREAM_PORT: i64 = ["upstream", "port"];
    /// `upstream.local_address`.
    UPSTREAM_LOCAL_ADDRESS: String = ["upstream", "local_address"];
    /// `upstream.tls_version`.
    UPSTREAM_TLS_VERSION: String = ["upstream", "tls_version"];
    /// `upstream.transport_failure_reason`.
    UPSTREAM_TRANSPORT_FAILURE_REASON: String = ["upstream", "transport_failure_reason"];
    /// `upstream.request_attempt_count`.
    UPSTREAM_REQUEST_ATTEMPT_COUNT: u64 = ["upstream", "request_attempt_count"];
    /// `xds.cluster_name`: the upstream cluster chosen by the route.
    XDS_CLUSTER_NAME: String = ["xds", "cluster_name"];
    /// `xds.route_name`.
    XDS_ROUTE_NAME: String = ["xds", "route_name"];
    /// `xds.virtual_host_name`.
    XDS_VIRTUAL_HOST_NAME: String = ["xds", "virtual_host_name"];
    /// `xds.filter_chain_name`.
    XDS_FILTER_CHAIN_NAME: String = ["xds", "filter_chain_name"];
    /// `xds.listener_direction`.
    XDS_LISTENER_DIRECTION: i64 = ["xds", "listener_direction"];
    /// `plugin_name`.
    PLUGIN_NAME: String = ["plugin_name"];
    /// `plugin_root_id`.
    PLUGIN_ROOT_ID: String = ["plugin_root_id"];
    /// `plugin_vm_id`.
    PLUGIN_VM_ID: String = ["plugin_vm_id"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_decode_from_envoys_encodings() {
        assert_eq!(i64::decode(200i64.to_le_bytes().to_vec()), Some(200));
        assert_eq!(i64::decode(vec![1, 2]), None, "wrong width");
        assert_eq!(bool::decode(vec![1]), Some(true));
        assert_eq!(
            Duration::decode(1_500_000i64.to_le_bytes().to_vec()),
            Some(Duration::from_micros(1500))
        );
        let at = SystemTime::decode(1_000_000_000i64.to_le_bytes().to_vec()).unwrap();
        assert_eq!(
            at.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::from_secs(1)
        );
        let map = pairs::encode(&[("a", "1")]);
        assert_eq!(
            HeaderPairs::decode(map),
            Some(vec![("a".into(), "1".into())])
        );
        assert_eq!(String::decode(vec![0xff]), None);
    }

    #[test]
    fn the_table_lists_every_constant() {
        assert!(ALL.contains(&REQUEST_TIME.path()));
        assert!(ALL.len() > 40);
    }
}
