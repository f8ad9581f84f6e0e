//! Header maps of the current stream: bytes first, `&str` where convenient.

mod check;
mod list;
mod value;

pub use check::{HeaderError, HeaderProblem, HeaderResult, InvalidHeader};
pub(crate) use check::{check_header, check_name, check_value, checked_header};
pub use list::HeaderList;
pub use value::HeaderValue;

use crate::abi::{HeaderWrite, MapType, Via};
use crate::host::headers::FromHost;
use crate::host::{self, HostResult};
use std::marker::PhantomData;
use std::ops::Deref;

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
    /// Where its calls go: natively, a phase's own map is Envoy's, reached directly.
    via: Via,
    _phase: PhantomData<&'phase ()>,
}

impl Headers<'_> {
    pub(crate) const fn new(map: MapType, via: Via) -> Self {
        Headers {
            map,
            via,
            _phase: PhantomData,
        }
    }

    /// The value of `name`, or `None` if the header is absent.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn get(&self, name: impl AsRef<[u8]>) -> HostResult<Option<HeaderValue>> {
        host::headers::value(self.via, self.map, name.as_ref())
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
            .map(HeaderValue::from_borrowed)
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
    pub fn snapshot(&self) -> HostResult<HeaderList> {
        HeaderList::read(self.via, self.map)
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
            .map(|(key, value)| (key.to_vec(), HeaderValue::from_borrowed(value)))
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
    pub(crate) const fn new(map: MapType, via: Via) -> Self {
        HeadersMut {
            headers: Headers::new(map, via),
            _exclusive: PhantomData,
        }
    }

    /// Sets `name` to exactly `value`, replacing any values it had.
    ///
    /// # Errors
    /// [`HeaderError::Invalid`] for a name that is not a token (or a pseudo-header this
    /// map cannot have) or a value with CR, LF or NUL: nothing reaches Envoy. A name in any
    /// case is written lower-cased, as Envoy stores names (`"WWW-Authenticate"` is
    /// `www-authenticate`). [`HeaderError::Host`] when Envoy refuses the call.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> HeaderResult<()> {
        let value = value.as_ref();
        self.write_checked(name.as_ref(), value, HeaderWrite::Replace(value))
    }

    /// Adds a value for `name`, keeping the values it had.
    ///
    /// # Errors
    /// As [`set`](HeadersMut::set).
    pub fn add(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> HeaderResult<()> {
        let value = value.as_ref();
        self.write_checked(name.as_ref(), value, HeaderWrite::Add(value))
    }

    /// Makes `write` (of `value`) to `name` once the pair is checked.
    #[inline]
    fn write_checked(
        &mut self,
        name: &[u8],
        value: &[u8],
        write: HeaderWrite<'_>,
    ) -> HeaderResult<()> {
        let name = checked_header(self.headers.map, name, value)?;
        let (via, map) = (self.headers.via, self.headers.map);
        Ok(host::headers::write(via, map, &name, write)?)
    }

    /// Removes every value of `name`.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> HostResult<()> {
        let (via, map) = (self.headers.via, self.headers.map);
        host::headers::write(via, map, name.as_ref(), HeaderWrite::Remove)
    }

    /// Replaces the whole map with `pairs`, with one host call.
    ///
    /// # Errors
    /// As [`set`](HeadersMut::set), for any pair; then nothing is written.
    pub fn set_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        pairs: &[(K, V)],
    ) -> HeaderResult<()> {
        if pairs
            .iter()
            .any(|(name, _)| name.as_ref().iter().any(u8::is_ascii_uppercase))
        {
            let lowered: Vec<(Vec<u8>, &[u8])> = pairs
                .iter()
                .map(|(name, value)| (name.as_ref().to_ascii_lowercase(), value.as_ref()))
                .collect();
            return self.set_pairs(&lowered);
        }
        for (name, value) in pairs {
            check_header(self.headers.map, name.as_ref(), value.as_ref())?;
        }
        let (via, map) = (self.headers.via, self.headers.map);
        Ok(host::headers::set_pairs_via(via, map, pairs)?)
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
    use super::{HeaderList, HeaderProblem, HeaderValue, check_header, checked_header};

    #[test]
    fn names_in_any_case_are_written_lower_cased() {
        let map = MapType::HttpRequestHeaders;
        let written = checked_header(map, b"WWW-Authenticate", b"x").unwrap();
        assert_eq!(&*written, b"www-authenticate");
        let written = checked_header(map, b"x-a", b"x").unwrap();
        assert!(matches!(written, std::borrow::Cow::Borrowed(_)));
        assert!(checked_header(map, b":path", b"/").is_ok());
        assert!(checked_header(map, b":status", b"200").is_err());
        assert!(checked_header(map, b"X A", b"x").is_err());
        assert!(checked_header(map, b"x-a", b"a\r\nb").is_err());
    }
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
        let snapshot = HeaderList::decode(map).unwrap();
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
        assert!(HeaderList::decode(map).is_err());
        assert!(HeaderList::decode(Vec::new()).unwrap().is_empty());
    }
}
