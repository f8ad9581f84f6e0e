//! Properties: what Envoy knows about the stream, the connection and the plugin.

use crate::attributes::{Attribute, AttributeValue};
use crate::host::{self, HostResult};
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

/// Read (and set) Envoy's attributes.
///
/// Typed getters cover the common ones; [`get`](Properties::get) reaches any path Envoy
/// documents under "Attributes", e.g. `["connection", "mtls"]`.
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

impl Properties<'_> {
    pub(crate) const fn new() -> Self {
        Properties {
            _phase: PhantomData,
        }
    }

    /// A typed attribute (see [`attributes`](crate::attributes)); `None` when Envoy has no
    /// value, or one of another type.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn attribute<T: AttributeValue>(&self, attribute: Attribute<T>) -> HostResult<Option<T>> {
        Ok(self.get(attribute.path())?.and_then(T::decode))
    }

    /// The raw bytes at `path`, or `None` when Envoy has no value there.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get(&self, path: &[&str]) -> HostResult<Option<Vec<u8>>> {
        host::properties::get(path)
    }

    /// The value at `path` as text (lossy).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get_string(&self, path: &[&str]) -> HostResult<Option<String>> {
        Ok(self
            .get(path)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The value at `path` as a 64-bit integer (Envoy encodes them little-endian).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get_i64(&self, path: &[&str]) -> HostResult<Option<i64>> {
        Ok(self
            .get(path)?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map(i64::from_le_bytes))
    }

    /// Sets the value at `path` (Envoy accepts this for filter state).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn set(&self, path: &[&str], value: &[u8]) -> HostResult<()> {
        host::properties::set(path, value)
    }

    /// `request.path`: the path with query string.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn request_path(&self) -> HostResult<Option<String>> {
        self.get_string(&["request", "path"])
    }

    /// `request.method`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn request_method(&self) -> HostResult<Option<String>> {
        self.get_string(&["request", "method"])
    }

    /// `source.address`: the downstream peer, as `ip:port`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn source_address(&self) -> HostResult<Option<String>> {
        self.get_string(&["source", "address"])
    }

    /// The downstream peer's IP address (IPv4 or IPv6), from `source.address` without its
    /// port (and, for IPv6, its brackets). `None` when Envoy has no address, or one that
    /// is not IP (a Unix socket).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn source_ip(&self) -> HostResult<Option<IpAddr>> {
        Ok(self.source_address()?.as_deref().and_then(ip_of))
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
        Ok(self.destination_address()?.as_deref().and_then(ip_of))
    }

    /// `xds.route_name`: the name of the route this request matched.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn route_name(&self) -> HostResult<Option<String>> {
        self.get_string(&["xds", "route_name"])
    }

    /// `plugin_name`: the `name` of this plugin in Envoy's configuration.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn plugin_name(&self) -> HostResult<Option<String>> {
        self.get_string(&["plugin_name"])
    }

    /// `response.code`: the response status, once there is one.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn response_code(&self) -> HostResult<Option<u16>> {
        Ok(self
            .get_i64(&["response", "code"])?
            .and_then(|code| u16::try_from(code).ok()))
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

#[cfg(test)]
mod tests {
    use super::ip_of;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
}
