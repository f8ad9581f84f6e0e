//! Properties: what Envoy knows about the stream, the connection and the plugin (Envoy's
//! docs call them attributes), read by path, or typed: each constant here names a path and
//! the Rust type its value decodes to, so `props.get(REQUEST_DURATION)` is a `Duration`.
//!
//! ```no_run
//! use envoy_wasm_sdk::prelude::*;
//! use envoy_wasm_sdk::properties::{REQUEST_DURATION, RESPONSE_CODE, SOURCE_PORT};
//!
//! struct Timing;
//! #[http_filter]
//! impl HttpFilter for Timing {
//!     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
//!         // A live phase may also write: later filters and the access log read it.
//!         req.properties().set(&["timing", "seen"], b"1")?;
//!         Ok(Action::Continue)
//!     }
//!
//!     fn on_stream_done(&mut self, done: &mut StreamDoneOps) {
//!         let props = done.properties();
//!         if let (Ok(Some(code)), Ok(Some(took))) = (props.get(RESPONSE_CODE), props.get(REQUEST_DURATION)) {
//!             log::info!("{code} in {took:?} from port {:?}", props.get(SOURCE_PORT));
//!         }
//!         // Any other path, raw: metadata, `node`, filter state.
//!         let _node = props.get(&["node", "id"]);
//!     }
//! }
//! ```
//!
//! How Envoy encodes them: strings as bytes, integers as 8 little-endian bytes, booleans as
//! one byte, durations and timestamps as 8-byte nanosecond counts, header maps as serialized
//! pairs ([`PropertyValue`] decodes each).

use crate::headers::HeaderList;
use crate::host::{self, HostResult};
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

/// Reads Envoy's properties (a live phase's [`PropertiesMut`] also writes them).
///
/// [`get`](Properties::get) takes one of this module's typed constants, or any path Envoy
/// documents under "Attributes", e.g. `&["connection", "mtls"]`, as raw bytes.
///
/// Properties describe the stream (or plugin) of the callback that handed them out, and
/// borrow its phase object, so they cannot be kept for later:
///
/// ```compile_fail
/// use envoy_wasm_sdk::prelude::*;
///
/// struct Keeper {
///     kept: Option<Properties<'static>>,
/// }
///
/// #[http_filter]
/// impl HttpFilter for Keeper {
///     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
///         self.kept = Some(req.properties()); // error: `req` escapes the callback
///         Ok(Action::Continue)
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Properties<'phase> {
    _phase: PhantomData<&'phase ()>,
}

/// [`Properties`] of a live stream or connection, which may also be written: what a
/// phase that can still change the stream hands out. Reads go through
/// [`Deref`](std::ops::Deref) to [`Properties`].
///
/// The phases after the stream or connection ended ([`StreamDoneOps`](crate::StreamDoneOps),
/// [`ConnectionDoneOps`](crate::network::ConnectionDoneOps)) and the plugin's own ops, which have
/// no stream, hand out read-only [`Properties`]:
///
/// ```compile_fail
/// use envoy_wasm_sdk::prelude::*;
///
/// struct Late;
///
/// #[http_filter]
/// impl HttpFilter for Late {
///     fn on_stream_done(&mut self, done: &mut StreamDoneOps) {
///         let _ = done.properties().set(&["late"], b"x"); // error: no method `set`
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PropertiesMut<'phase> {
    read: Properties<'phase>,
}

impl PropertiesMut<'_> {
    pub(crate) const fn new() -> Self {
        PropertiesMut {
            read: Properties::new(),
        }
    }

    /// Sets the value at `path`: Envoy writes it to the stream's filter state, where later
    /// filters and the access log read it.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn set(&self, path: &[&str], value: &[u8]) -> HostResult<()> {
        host::properties::set(path, value)
    }
}

impl<'phase> std::ops::Deref for PropertiesMut<'phase> {
    type Target = Properties<'phase>;
    fn deref(&self) -> &Properties<'phase> {
        &self.read
    }
}

impl Properties<'_> {
    pub(crate) const fn new() -> Self {
        Properties {
            _phase: PhantomData,
        }
    }

    /// The value of `key`: a typed [`Property`] (`props.get(RESPONSE_CODE)` is an
    /// `i64`), or a path, whose value comes as raw bytes (`props.get(&["node", "id"])`).
    /// `None` when Envoy has no value there, or one that does not decode as the type.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get<K: PropertyKey>(&self, key: K) -> HostResult<Option<K::Value>> {
        Ok(host::properties::get(key.path())?.and_then(K::decode))
    }

    /// The value at `path`, decoded as `T` (see [`PropertyValue`]): a path this module
    /// does not name, typed, such as a map-valued one as a [`HeaderList`]; `None`
    /// when Envoy has no value there, or one of another type.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get_as<T: PropertyValue>(&self, path: &[&str]) -> HostResult<Option<T>> {
        Ok(host::properties::get(path)?.and_then(T::decode))
    }

    /// The value at `path` as text, lossy (bytes that are not UTF-8 become `U+FFFD`).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get_string(&self, path: &[&str]) -> HostResult<Option<String>> {
        Ok(host::properties::get(path)?.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The downstream peer's IP address (IPv4 or IPv6), from `source.address` without its
    /// port (and, for IPv6, its brackets). `None` when Envoy has no address, or one that
    /// is not IP (a Unix socket).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn source_ip(&self) -> HostResult<Option<IpAddr>> {
        Ok(self.get(SOURCE_ADDRESS)?.as_deref().and_then(ip_of))
    }

    /// `destination.address`: the address the downstream connected to, as `ip:port`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn destination_address(&self) -> HostResult<Option<String>> {
        self.get_string(&["destination", "address"])
    }

    /// The IP address the downstream connected to, from `destination.address` (see
    /// [`source_ip`](Properties::source_ip)).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn destination_ip(&self) -> HostResult<Option<IpAddr>> {
        Ok(self.get(DESTINATION_ADDRESS)?.as_deref().and_then(ip_of))
    }
}

/// The IP of an Envoy address: `1.2.3.4:80`, `[::1]:80`, or a bare IP.
fn ip_of(address: &str) -> Option<IpAddr> {
    address
        .parse::<SocketAddr>()
        .map(|socket| socket.ip())
        .or_else(|_| address.parse::<IpAddr>())
        .ok()
}

/// A property: its path and the type its value decodes to.
#[derive(Debug)]
pub struct Property<T> {
    path: &'static [&'static str],
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Property<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Property<T> {}

impl<T> Property<T> {
    /// The property at `path` (segments, as in `["request", "path"]`).
    pub const fn new(path: &'static [&'static str]) -> Property<T> {
        Property {
            path,
            _value: PhantomData,
        }
    }

    /// Its path.
    pub fn path(&self) -> &'static [&'static str] {
        self.path
    }
}

/// A type a property's bytes decode to.
pub trait PropertyValue: Sized {
    /// Decodes Envoy's encoding; `None` if the bytes do not fit the type.
    fn decode(bytes: Vec<u8>) -> Option<Self>;
}

impl PropertyValue for String {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        String::from_utf8(bytes).ok()
    }
}

impl PropertyValue for Vec<u8> {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(bytes)
    }
}

impl PropertyValue for i64 {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(i64::from_le_bytes(bytes.try_into().ok()?))
    }
}

impl PropertyValue for u64 {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }
}

impl PropertyValue for bool {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        match bytes.as_slice() {
            [byte] => Some(*byte != 0),
            _ => None,
        }
    }
}

impl PropertyValue for Duration {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(Duration::from_nanos(
            u64::try_from(i64::decode(bytes)?).ok()?,
        ))
    }
}

impl PropertyValue for SystemTime {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        Some(SystemTime::UNIX_EPOCH + Duration::decode(bytes)?)
    }
}

/// Header maps (`request.headers`, ...) and other map-valued properties, in order.
impl PropertyValue for HeaderList {
    fn decode(bytes: Vec<u8>) -> Option<Self> {
        HeaderList::decode(bytes).ok()
    }
}

macro_rules! known {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty = [$($segment:literal),+]; )*) => {
        $( $(#[$doc])* pub const $name: Property<$ty> = Property::new(&[$($segment),+]); )*

        /// Every property this module names, by path (for tools and tests).
        pub const ALL: &[&[&str]] = &[$( &[$($segment),+] ),*];
    };
}

known! {
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
    REQUEST_HEADERS: HeaderList = ["request", "headers"];
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
    RESPONSE_HEADERS: HeaderList = ["response", "headers"];
    /// `response.trailers`.
    RESPONSE_TRAILERS: HeaderList = ["response", "trailers"];
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

/// What [`Properties::get`] takes: a typed [`Property`], or a path (`&["a", "b"]`), whose
/// value is raw bytes.
pub trait PropertyKey {
    /// What the value decodes to.
    type Value;
    /// The path.
    fn path(&self) -> &[&str];
    /// Decodes Envoy's bytes; `None` if they do not fit.
    fn decode(bytes: Vec<u8>) -> Option<Self::Value>;
}

impl<T: PropertyValue> PropertyKey for Property<T> {
    type Value = T;
    fn path(&self) -> &[&str] {
        self.path
    }
    fn decode(bytes: Vec<u8>) -> Option<T> {
        T::decode(bytes)
    }
}

impl PropertyKey for [&str] {
    type Value = Vec<u8>;
    fn path(&self) -> &[&str] {
        self
    }
    fn decode(bytes: Vec<u8>) -> Option<Vec<u8>> {
        Some(bytes)
    }
}

impl<const N: usize> PropertyKey for [&str; N] {
    type Value = Vec<u8>;
    fn path(&self) -> &[&str] {
        self.as_slice()
    }
    fn decode(bytes: Vec<u8>) -> Option<Vec<u8>> {
        Some(bytes)
    }
}

impl<K: PropertyKey + ?Sized> PropertyKey for &K {
    type Value = K::Value;
    fn path(&self) -> &[&str] {
        (**self).path()
    }
    fn decode(bytes: Vec<u8>) -> Option<K::Value> {
        K::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn an_address_loses_its_port_and_brackets() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
        assert_eq!(ip_of("10.0.0.7:443"), Some(v4));
        assert_eq!(ip_of("10.0.0.7"), Some(v4));
        assert_eq!(ip_of("[::1]:8080"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(ip_of("::1"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(ip_of("/run/envoy.sock"), None);
        assert_eq!(ip_of(""), None);
    }

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
        let map = crate::abi::pairs::encode(&[("a", "1")]);
        assert_eq!(
            <HeaderList as PropertyValue>::decode(map).map(|list| list.to_strings()),
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
