//! Header maps of the current stream: bytes first, `&str` where convenient.

use crate::abi::MapType;
use crate::host::{self, HostResult};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

/// A header value as the host holds it: bytes, which are usually (not always) UTF-8.
///
/// ```
/// use envoy_wasm_sdk::HeaderValue;
///
/// let value = HeaderValue::from("text/html");
/// assert_eq!(value, "text/html");
/// assert_eq!(value.as_str(), Some("text/html"));
/// assert_eq!(HeaderValue::from(vec![0xff]).as_str(), None);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeaderValue(Vec<u8>);

impl HeaderValue {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as `&str`, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The value as text, with invalid UTF-8 replaced.
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The owned bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl Deref for HeaderValue {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for HeaderValue {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for HeaderValue {
    fn from(bytes: Vec<u8>) -> HeaderValue {
        HeaderValue(bytes)
    }
}

impl From<&str> for HeaderValue {
    fn from(text: &str) -> HeaderValue {
        HeaderValue(text.as_bytes().to_vec())
    }
}

impl From<String> for HeaderValue {
    fn from(text: String) -> HeaderValue {
        HeaderValue(text.into_bytes())
    }
}

impl PartialEq<str> for HeaderValue {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for HeaderValue {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<[u8]> for HeaderValue {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_str_lossy(), f)
    }
}

impl fmt::Display for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

/// Read access to one header map (request or response headers or trailers).
///
/// Names are matched case-insensitively by the host; Envoy stores them in lower case.
/// A repeated header's [`get`](Headers::get) returns its first value, as Envoy does;
/// [`get_all`](Headers::get_all) returns every value.
///
/// A handle borrows the phase object it came from, so it cannot outlive the callback:
///
/// ```compile_fail
/// use envoy_wasm_sdk::prelude::*;
///
/// struct Keeper {
///     kept: Option<Headers<'static>>,
/// }
///
/// #[http_filter]
/// impl HttpFilter for Keeper {
///     fn on_stream_done(&mut self, done: &mut StreamDoneOps) {
///         self.kept = Some(done.request_headers()); // error: `done` does not live long enough
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Headers<'phase> {
    map: MapType,
    _phase: PhantomData<&'phase ()>,
}

impl Headers<'_> {
    pub(crate) const fn new(map: MapType) -> Self {
        Headers {
            map,
            _phase: PhantomData,
        }
    }

    /// The value of `name`, or `None` if the header is absent.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get(&self, name: impl AsRef<[u8]>) -> HostResult<Option<HeaderValue>> {
        Ok(host::headers::get(self.map, name.as_ref())?.map(HeaderValue))
    }

    /// The value of `name` as a `String` (lossy), or `None` if absent.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get_str(&self, name: impl AsRef<[u8]>) -> HostResult<Option<String>> {
        Ok(self.get(name)?.map(|v| v.to_str_lossy().into_owned()))
    }

    /// Every value of `name`, in order (a header may appear several times).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get_all(&self, name: impl AsRef<[u8]>) -> HostResult<Vec<HeaderValue>> {
        Ok(self
            .snapshot()?
            .get_all(name)
            .map(|value| HeaderValue(value.to_vec()))
            .collect())
    }

    /// The whole map, read with one host call, to look up many headers cheaply.
    ///
    /// Each [`get`](Headers::get) crosses into the host and back twice (the host calls
    /// into the module to allocate the value), which costs about as much as the filter's
    /// own work. A snapshot costs that once, however many headers are then read.
    ///
    /// ```
    /// # use envoy_wasm_sdk::prelude::*;
    /// fn route_key<F>(req: &mut RequestHeadersOps<F>) -> Result<Vec<u8>, Error> {
    ///     let headers = req.headers().snapshot()?;
    ///     let tenant = headers.get("x-tenant").unwrap_or(b"default");
    ///     let path = headers.get(":path").unwrap_or(b"/");
    ///     Ok([tenant, path].concat())
    /// }
    /// ```
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn snapshot(&self) -> HostResult<HeaderSnapshot> {
        HeaderSnapshot::decode(host::headers::serialized(self.map)?)
    }

    /// Whether `name` is present.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn contains(&self, name: impl AsRef<[u8]>) -> HostResult<bool> {
        Ok(self.get(name)?.is_some())
    }

    /// Every header, in order, with one host call (owned; see also
    /// [`snapshot`](Headers::snapshot)).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn pairs(&self) -> HostResult<Vec<(Vec<u8>, HeaderValue)>> {
        Ok(self
            .snapshot()?
            .iter()
            .map(|(key, value)| (key.to_vec(), HeaderValue(value.to_vec())))
            .collect())
    }

    /// `:path` (request headers).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn path(&self) -> HostResult<Option<HeaderValue>> {
        self.get(":path")
    }

    /// `:method` (request headers).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn method(&self) -> HostResult<Option<HeaderValue>> {
        self.get(":method")
    }

    /// `:authority` (request headers).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn authority(&self) -> HostResult<Option<HeaderValue>> {
        self.get(":authority")
    }

    /// `:scheme` (request headers).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn scheme(&self) -> HostResult<Option<HeaderValue>> {
        self.get(":scheme")
    }

    /// `:status` (response headers), parsed.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn status(&self) -> HostResult<Option<u16>> {
        Ok(self
            .get(":status")?
            .and_then(|value| value.as_str().and_then(|s| s.parse().ok())))
    }
}

/// A copy of one header map taken with a single host call; see [`Headers::snapshot`].
///
/// Lookups are case-insensitive and return bytes borrowed from the snapshot. Changes made
/// to the map after it was taken do not show here.
#[derive(Clone, Debug, Default)]
pub struct HeaderSnapshot {
    serialized: Vec<u8>,
    /// Offsets into `serialized`: name start, name length, value start, value length.
    entries: Vec<[u32; 4]>,
}

impl HeaderSnapshot {
    fn decode(serialized: Vec<u8>) -> HostResult<HeaderSnapshot> {
        let base = serialized.as_ptr() as usize;
        let offset = |part: &[u8]| (part.as_ptr() as usize - base) as u32;
        let entries = crate::abi::pairs::decode(&serialized)
            .map_err(|_| host::headers::malformed())?
            .into_iter()
            .map(|(name, value)| {
                [
                    offset(name),
                    name.len() as u32,
                    offset(value),
                    value.len() as u32,
                ]
            })
            .collect();
        Ok(HeaderSnapshot {
            serialized,
            entries,
        })
    }

    /// Every header, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|&[name, name_len, value, value_len]| {
                let part = |at: u32, len: u32| &self.serialized[at as usize..(at + len) as usize];
                (part(name, name_len), part(value, value_len))
            })
    }

    /// The first value of `name`, or `None` if absent.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&[u8]> {
        let name = name.as_ref();
        self.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The first value of `name` if it is UTF-8.
    pub fn get_str(&self, name: impl AsRef<[u8]>) -> Option<&str> {
        self.get(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: impl AsRef<[u8]>) -> impl Iterator<Item = &[u8]> {
        let name = name.as_ref().to_vec();
        self.iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(&name))
            .map(|(_, value)| value)
    }

    /// How many headers the map held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map was empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Read and write access to one header map; reads come from [`Headers`] through `Deref`.
///
/// It borrows the phase object mutably, so it cannot be kept past the callback, and while
/// it exists the phase's other operations wait:
///
/// ```compile_fail
/// use envoy_wasm_sdk::prelude::*;
///
/// struct Keeper {
///     kept: Option<HeadersMut<'static>>,
/// }
///
/// #[http_filter]
/// impl HttpFilter for Keeper {
///     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
///         self.kept = Some(req.headers()); // error: `req` escapes the callback
///         Ok(Action::Continue)
///     }
/// }
/// ```
#[derive(Debug)]
pub struct HeadersMut<'phase> {
    headers: Headers<'phase>,
    _exclusive: PhantomData<&'phase mut ()>,
}

impl HeadersMut<'_> {
    pub(crate) const fn new(map: MapType) -> Self {
        HeadersMut {
            headers: Headers::new(map),
            _exclusive: PhantomData,
        }
    }

    /// Sets `name` to exactly `value`, replacing any values it had.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> HostResult<()> {
        host::headers::replace(self.headers.map, name.as_ref(), value.as_ref())
    }

    /// Adds a value for `name`, keeping the values it had.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn add(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> HostResult<()> {
        host::headers::add(self.headers.map, name.as_ref(), value.as_ref())
    }

    /// Removes every value of `name`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> HostResult<()> {
        host::headers::remove(self.headers.map, name.as_ref())
    }

    /// Replaces the whole map with `pairs`, with one host call.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn set_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        pairs: &[(K, V)],
    ) -> HostResult<()> {
        host::headers::set_pairs(self.headers.map, pairs)
    }
}

impl<'phase> Deref for HeadersMut<'phase> {
    type Target = Headers<'phase>;
    fn deref(&self) -> &Headers<'phase> {
        &self.headers
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderSnapshot;
    use crate::abi::pairs;

    #[test]
    fn a_snapshot_finds_headers_case_insensitively_in_order() {
        let map = pairs::encode(&[
            (":path", "/a"),
            ("Set-Cookie", "x=1"),
            ("set-cookie", "y=2"),
            ("bin", "\u{0}\u{1}"),
        ]);
        let snapshot = HeaderSnapshot::decode(map).unwrap();
        assert_eq!(snapshot.len(), 4);
        assert_eq!(snapshot.get(":PATH"), Some(&b"/a"[..]));
        assert_eq!(snapshot.get_str("set-cookie"), Some("x=1"));
        let cookies: Vec<&[u8]> = snapshot.get_all("SET-COOKIE").collect();
        assert_eq!(cookies, [&b"x=1"[..], b"y=2"]);
        assert_eq!(snapshot.get("bin"), Some(&[0u8, 1][..]));
        assert_eq!(snapshot.get("absent"), None);
        assert_eq!(snapshot.iter().next(), Some((&b":path"[..], &b"/a"[..])));
    }

    #[test]
    fn a_malformed_map_is_an_error_not_a_panic() {
        let mut map = pairs::encode(&[("name", "value")]);
        map.truncate(map.len() - 3);
        assert!(HeaderSnapshot::decode(map).is_err());
        assert!(HeaderSnapshot::decode(Vec::new()).unwrap().is_empty());
    }
}
