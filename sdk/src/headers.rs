//! Header maps of the current stream: bytes first, `&str` where convenient.

use crate::abi::MapType;
use crate::host::{self, HostError, HostResult};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

/// A header value as the host holds it: bytes, which are usually (not always) UTF-8.
///
/// Made from a filter's own bytes with `try_from`, which refuses what could split an HTTP
/// message (CR, LF, NUL):
///
/// ```
/// use envoy_wasm_sdk::HeaderValue;
///
/// let value = HeaderValue::try_from("text/html").unwrap();
/// assert_eq!(value, "text/html");
/// assert_eq!(value.as_str(), Some("text/html"));
/// assert_eq!(HeaderValue::try_from(vec![0xff]).unwrap().as_str(), None);
/// assert!(HeaderValue::try_from("a\r\nset-cookie: evil=1").is_err());
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

impl HeaderValue {
    /// A value the host handed over (it is the host's to have checked).
    pub(crate) fn from_host(bytes: Vec<u8>) -> HeaderValue {
        HeaderValue(bytes)
    }
}

impl TryFrom<Vec<u8>> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(bytes: Vec<u8>) -> Result<HeaderValue, InvalidHeader> {
        check_value(b"", &bytes)?;
        Ok(HeaderValue(bytes))
    }
}

impl TryFrom<&[u8]> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(bytes: &[u8]) -> Result<HeaderValue, InvalidHeader> {
        HeaderValue::try_from(bytes.to_vec())
    }
}

impl TryFrom<&str> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(text: &str) -> Result<HeaderValue, InvalidHeader> {
        HeaderValue::try_from(text.as_bytes().to_vec())
    }
}

impl TryFrom<String> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(text: String) -> Result<HeaderValue, InvalidHeader> {
        HeaderValue::try_from(text.into_bytes())
    }
}

/// What is wrong with a header a filter tried to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// The name is empty.
    EmptyName,
    /// The name holds a byte HTTP does not allow in a token.
    NameNotAToken(u8),
    /// The name has upper-case letters: Envoy and HTTP/2 keep names in lower case.
    UpperCaseName,
    /// A pseudo-header (`:name`) this map cannot have.
    PseudoHeaderNotAllowed,
    /// The value holds CR, LF or NUL, which could split the message.
    ControlInValue(u8),
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let byte = |f: &mut fmt::Formatter<'_>, b: u8| match b {
            b'\r' => f.write_str("CR"),
            b'\n' => f.write_str("LF"),
            0 => f.write_str("NUL"),
            other => write!(f, "byte {other}"),
        };
        match self {
            HeaderProblem::EmptyName => f.write_str("the name is empty"),
            HeaderProblem::NameNotAToken(b) => {
                f.write_str("the name holds ")?;
                byte(f, *b)
            }
            HeaderProblem::UpperCaseName => f.write_str("the name is not lower case"),
            HeaderProblem::PseudoHeaderNotAllowed => {
                f.write_str("this pseudo-header has no place here")
            }
            HeaderProblem::ControlInValue(b) => {
                f.write_str("the value holds ")?;
                byte(f, *b)
            }
        }
    }
}

/// A header name or value refused before it reached Envoy: it could split or corrupt the
/// HTTP message (a value with CR LF would start a new header line on HTTP/1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidHeader {
    name: String,
    problem: HeaderProblem,
}

impl InvalidHeader {
    /// The header's name as the filter gave it (lossy, control characters as `?`); empty
    /// for a bare value.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What is wrong.
    pub fn problem(&self) -> HeaderProblem {
        self.problem
    }
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "header value refused: {}", self.problem)
        } else {
            write!(f, "header `{}` refused: {}", self.name, self.problem)
        }
    }
}

impl std::error::Error for InvalidHeader {}

/// Why writing a header failed: the filter's input was refused, or the host refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// A name or value that could split or corrupt the message; nothing was written.
    Invalid(InvalidHeader),
    /// The host refused the call.
    Host(HostError),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Invalid(invalid) => invalid.fmt(f),
            HeaderError::Host(host) => host.fmt(f),
        }
    }
}

impl std::error::Error for HeaderError {}

impl From<InvalidHeader> for HeaderError {
    fn from(invalid: InvalidHeader) -> HeaderError {
        HeaderError::Invalid(invalid)
    }
}

impl From<HostError> for HeaderError {
    fn from(host: HostError) -> HeaderError {
        HeaderError::Host(host)
    }
}

/// The result of writing headers.
pub type HeaderResult<T> = Result<T, HeaderError>;

/// The pseudo-headers a map may carry.
pub(crate) fn pseudo_headers(map: MapType) -> &'static [&'static [u8]] {
    match map {
        MapType::HttpRequestHeaders => &[
            b":method",
            b":path",
            b":authority",
            b":scheme",
            b":protocol",
        ],
        MapType::HttpResponseHeaders => &[b":status"],
        _ => &[],
    }
}

fn refused(name: &[u8], problem: HeaderProblem) -> InvalidHeader {
    // The name may come from a client and ends up in logs: no control characters there.
    let name = String::from_utf8_lossy(name)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    InvalidHeader { name, problem }
}

/// Checks a header name: a lower-case HTTP token, or one of `pseudo`.
pub(crate) fn check_name(name: &[u8], pseudo: &[&[u8]]) -> Result<(), InvalidHeader> {
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty() {
        return Err(refused(name, HeaderProblem::EmptyName));
    }
    if name.starts_with(b":") {
        return match pseudo.contains(&name) {
            true => Ok(()),
            false => Err(refused(name, HeaderProblem::PseudoHeaderNotAllowed)),
        };
    }
    if let Some(bad) = name.iter().find(|b| !token(b)) {
        return Err(refused(name, HeaderProblem::NameNotAToken(*bad)));
    }
    if name.iter().any(u8::is_ascii_uppercase) {
        return Err(refused(name, HeaderProblem::UpperCaseName));
    }
    Ok(())
}

/// Checks a header value: no CR, LF or NUL.
pub(crate) fn check_value(name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
    match value.iter().find(|b| matches!(b, b'\r' | b'\n' | 0)) {
        Some(bad) => Err(refused(name, HeaderProblem::ControlInValue(*bad))),
        None => Ok(()),
    }
}

/// Checks a header for map `map` (pseudo-headers as that map allows them).
pub(crate) fn check_header(map: MapType, name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
    check_name(name, pseudo_headers(map))?;
    check_value(name, value)
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
        Ok(host::headers::get(self.map, name.as_ref())?.map(HeaderValue::from_host))
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
            .map(|value| HeaderValue::from_host(value.to_vec()))
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
            .map(|(key, value)| (key.to_vec(), HeaderValue::from_host(value.to_vec())))
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
    /// [`HeaderError::Invalid`] for a name that is not a lower-case token (or a
    /// pseudo-header this map cannot have) or a value with CR, LF or NUL: nothing reaches
    /// Envoy. [`HeaderError::Host`] when Envoy refuses the call.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> HeaderResult<()> {
        let (name, value) = (name.as_ref(), value.as_ref());
        check_header(self.headers.map, name, value)?;
        Ok(host::headers::replace(self.headers.map, name, value)?)
    }

    /// Adds a value for `name`, keeping the values it had.
    ///
    /// # Errors
    /// As [`set`](HeadersMut::set).
    pub fn add(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> HeaderResult<()> {
        let (name, value) = (name.as_ref(), value.as_ref());
        check_header(self.headers.map, name, value)?;
        Ok(host::headers::add(self.headers.map, name, value)?)
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
    /// As [`set`](HeadersMut::set), for any pair; then nothing is written.
    pub fn set_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        pairs: &[(K, V)],
    ) -> HeaderResult<()> {
        for (name, value) in pairs {
            check_header(self.headers.map, name.as_ref(), value.as_ref())?;
        }
        Ok(host::headers::set_pairs(self.headers.map, pairs)?)
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
    use super::{HeaderProblem, HeaderSnapshot, HeaderValue, check_header};
    use crate::abi::MapType;

    #[test]
    fn names_must_be_lower_case_tokens_and_pseudo_headers_where_http_has_them() {
        let problem = |map, name: &str| {
            check_header(map, name.as_bytes(), b"v")
                .err()
                .map(|e| e.problem())
        };
        let request = MapType::HttpRequestHeaders;
        assert_eq!(problem(request, "x-ok_1.a~"), None);
        assert_eq!(problem(request, ":path"), None);
        assert_eq!(problem(MapType::HttpResponseHeaders, ":status"), None);
        assert_eq!(problem(request, ""), Some(HeaderProblem::EmptyName));
        assert_eq!(
            problem(request, "X-Upper"),
            Some(HeaderProblem::UpperCaseName)
        );
        assert_eq!(
            problem(request, "a b"),
            Some(HeaderProblem::NameNotAToken(b' '))
        );
        assert_eq!(
            problem(request, "a\r\nb"),
            Some(HeaderProblem::NameNotAToken(b'\r'))
        );
        assert_eq!(
            problem(request, ":status"),
            Some(HeaderProblem::PseudoHeaderNotAllowed)
        );
        assert_eq!(
            problem(MapType::HttpRequestTrailers, ":path"),
            Some(HeaderProblem::PseudoHeaderNotAllowed)
        );
    }

    #[test]
    fn values_must_not_hold_cr_lf_or_nul() {
        let map = MapType::HttpResponseHeaders;
        assert!(check_header(map, b"x", b"tab\tand \xff bytes").is_ok());
        for (value, bad) in [
            (&b"a\r\nset-cookie: x"[..], b'\r'),
            (b"a\nb", b'\n'),
            (b"a\0b", 0),
        ] {
            let error = check_header(map, b"x-echo", value).unwrap_err();
            assert_eq!(error.problem(), HeaderProblem::ControlInValue(bad));
            assert_eq!(error.name(), "x-echo");
        }
        let error = check_header(map, b"x-echo", b"a\r\nb").unwrap_err();
        assert_eq!(
            error.to_string(),
            "header `x-echo` refused: the value holds CR"
        );
        assert!(HeaderValue::try_from("a\r\nb").is_err());
        assert_eq!(HeaderValue::try_from("ok").unwrap(), "ok");
    }
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
