//! Properties: what Envoy knows about the stream, the connection and the plugin.

use crate::attributes::{Attribute, AttributeValue};
use crate::host::{self, HostResult};
use std::marker::PhantomData;

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
