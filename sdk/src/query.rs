//! Query strings: split, percent-decoded, repeated keys kept in order.
//!
//! ```
//! use envoy_wasm_sdk::prelude::*;
//!
//! struct ApiKey;
//!
//! #[http_filter(stateless)]
//! impl HttpFilter for ApiKey {
//!     fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
//!         // `/items?apikey=k%201&tag=a&tag=b`; a bad escape (`%zz`) is a 400, not a skip.
//!         let query = req.query()?;
//!         if query.get_str("apikey").as_deref() != Some("k 1") {
//!             return Err(Error::with_status(401, "no valid apikey"));
//!         }
//!         let tags: Vec<String> = query.get_all("tag").map(|t| String::from_utf8_lossy(t).into_owned()).collect();
//!         log::debug!("tags {tags:?}");
//!         Ok(Action::Continue)
//!     }
//! }
//! ```
//!
//! The parse follows `application/x-www-form-urlencoded`, as browsers and most servers
//! read query strings: pairs separated by `&`, a key and a value separated by the first
//! `=` (a key alone has an empty value), `+` stands for a space, and `%XX` for the byte
//! `0xXX`. Empty pairs (`a=1&&b=2`) are skipped. A `%` not followed by two hex digits is an
//! error that says where, so a filter cannot be made to read a different value than the
//! upstream will (a parser that skipped or kept such input as is could be).

use std::fmt;

/// A decoded query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A query string that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// A `%` at byte `at` of the query string is not followed by two hex digits.
    BadEscape {
        /// Where, counted in bytes from the start of the query string.
        at: usize,
    },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::BadEscape { at } => write!(
                f,
                "bad query string: `%` at byte {at} is not followed by two hex digits"
            ),
        }
    }
}

/// A query string that does not decode answers the request `400`.
impl From<QueryError> for crate::Error {
    fn from(error: QueryError) -> crate::Error {
        crate::Error::with_status(400, error.to_string())
    }
}

impl QueryParams {
    /// Parses a query string (what follows `?`, without it).
    ///
    /// # Errors
    /// [`QueryError::BadEscape`] for a `%` not followed by two hex digits.
    pub fn parse(query: &[u8]) -> Result<QueryParams, QueryError> {
        let mut pairs = Vec::new();
        let mut offset = 0;
        for part in query.split(|b| *b == b'&') {
            let start = offset;
            offset += part.len() + 1;
            if part.is_empty() {
                continue;
            }
            let (key, value, value_at) = match part.iter().position(|b| *b == b'=') {
                Some(eq) => (&part[..eq], &part[eq + 1..], start + eq + 1),
                None => (part, &part[part.len()..], start + part.len()),
            };
            pairs.push((decode(key, start)?, decode(value, value_at)?));
        }
        Ok(QueryParams { pairs })
    }

    /// The query of a request path (`:path`): what follows the first `?`, up to a `#`.
    /// A path without `?` has no parameters.
    ///
    /// # Errors
    /// As [`parse`](QueryParams::parse).
    pub fn from_path(path: &[u8]) -> Result<QueryParams, QueryError> {
        let Some(question) = path.iter().position(|b| *b == b'?') else {
            return Ok(QueryParams::default());
        };
        let query = &path[question + 1..];
        let end = query.iter().position(|b| *b == b'#').unwrap_or(query.len());
        QueryParams::parse(&query[..end])
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `key` as text (invalid UTF-8 replaced).
    pub fn get_str(&self, key: &str) -> Option<String> {
        self.get(key)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// Whether `key` is present (with or without a value).
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// How many pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Percent- and `+`-decodes `part`, which starts at byte `start` of the query string.
fn decode(part: &[u8], start: usize) -> Result<Vec<u8>, QueryError> {
    let mut out = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        match part[i] {
            b'%' => {
                let hex = |at: usize| part.get(at).and_then(|b| (*b as char).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(high), Some(low)) => out.push((high * 16 + low) as u8),
                    _ => return Err(QueryError::BadEscape { at: start + i }),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_decodes_and_keeps_repeats_in_order() {
        let query = QueryParams::parse(b"a=1&b=x%20y+z&a=2&flag&&c=%3D%26&e=").unwrap();
        assert_eq!(query.get("a"), Some(&b"1"[..]));
        assert_eq!(query.get_all("a").collect::<Vec<_>>(), [b"1", b"2"]);
        assert_eq!(query.get_str("b").as_deref(), Some("x y z"));
        assert_eq!(query.get("flag"), Some(&b""[..]));
        assert_eq!(query.get("c"), Some(&b"=&"[..]));
        assert_eq!(query.get("e"), Some(&b""[..]));
        assert!(!query.contains("d"));
        assert_eq!(query.len(), 6);
    }

    #[test]
    fn a_bad_escape_is_an_error_saying_where() {
        assert_eq!(
            QueryParams::parse(b"ok=1&apikey=%zz").unwrap_err(),
            QueryError::BadEscape { at: 12 }
        );
        assert_eq!(
            QueryParams::parse(b"k%4").unwrap_err(),
            QueryError::BadEscape { at: 1 }
        );
        // In the path, the query starts after `?`: a bad escape in the path itself is the
        // upstream's to judge, and does not change what the query says.
        assert_eq!(
            QueryParams::from_path(b"/a%zz?apikey=%2").unwrap_err(),
            QueryError::BadEscape { at: 7 }
        );
        let query = QueryParams::from_path(b"/a%zz?apikey=x#frag").unwrap();
        assert_eq!(query.get_str("apikey").as_deref(), Some("x"));
        assert!(QueryParams::from_path(b"/plain").unwrap().is_empty());
    }
}
