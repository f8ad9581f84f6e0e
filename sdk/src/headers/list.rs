//! [`HeaderList`]: the SDK's one shape for a list of headers it hands out or takes.

use crate::abi::pairs::{self, Packed};
use crate::abi::{MapType, Via};
use crate::host::{self, HostResult};
use std::fmt;

/// A list of headers, in order: a header map's copy ([`Headers::snapshot`]), a callout's
/// response headers and trailers, a gRPC stream's metadata, a local reply's headers, the
/// header-map properties (`request.headers`, ...). One shape wherever the SDK hands out
/// or keeps headers, in one allocation.
///
/// Lookups are case-insensitive and return bytes borrowed from the list. Build one from
/// pairs with `collect` (any `AsRef<[u8]>` names and values):
///
/// ```
/// use envoy_wasm_sdk::HeaderList;
///
/// let list: HeaderList = [("content-type", "text/plain"), ("set-cookie", "a=1")]
///     .into_iter()
///     .collect();
/// assert_eq!(list.get_str("Content-Type"), Some("text/plain"));
/// assert_eq!(list.iter().count(), 2);
/// assert_eq!(list.to_strings()[1], ("set-cookie".to_owned(), "a=1".to_owned()));
/// ```
///
/// [`Headers::snapshot`]: crate::Headers::snapshot
#[derive(Clone, Default)]
pub struct HeaderList {
    /// Every name and value, back to back (Envoy's serialized map, when read from one),
    /// and where each is.
    packed: Packed,
}

impl HeaderList {
    /// Map `map` of the current context, with one host call (`via` a route).
    pub(crate) fn read(via: Via, map: MapType) -> HostResult<HeaderList> {
        if let Some(packed) = host::headers::packed_via(via, map)? {
            return Ok(HeaderList { packed });
        }
        HeaderList::decode(host::headers::serialized(map)?)
    }

    /// A list from Envoy's serialized map.
    pub(crate) fn decode(serialized: Vec<u8>) -> HostResult<HeaderList> {
        let base = serialized.as_ptr() as usize;
        let offset = |part: &[u8]| (part.as_ptr() as usize - base) as u32;
        let entries = pairs::decode(&serialized)
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
        Ok(HeaderList {
            packed: Packed {
                bytes: serialized,
                entries,
            },
        })
    }

    /// Appends a header.
    pub fn push(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.packed.push(name.as_ref(), value.as_ref());
    }

    /// Every header, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let bytes = &self.packed.bytes;
        self.packed
            .entries
            .iter()
            .map(move |&[name, name_len, value, value_len]| {
                let part = |at: u32, len: u32| &bytes[at as usize..(at + len) as usize];
                (part(name, name_len), part(value, value_len))
            })
    }

    /// The first value of `name`, or `None` if absent.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&[u8]> {
        let name = name.as_ref();
        let part = |at: u32, len: u32| self.packed.bytes.get(at as usize..(at + len) as usize);
        // Lengths first: most names are ruled out without reading their bytes.
        self.packed
            .entries
            .iter()
            .find(|&&[at, len, _, _]| {
                len as usize == name.len() && part(at, len).is_some_and(|key| same_name(key, name))
            })
            .and_then(|&[_, _, at, len]| part(at, len))
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
            .filter(move |(key, _)| same_name(key, &name))
            .map(|(_, value)| value)
    }

    /// Every header as text (lossy: bytes that are not UTF-8 become `U+FFFD`).
    pub fn to_strings(&self) -> Vec<(String, String)> {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        self.iter()
            .map(|(name, value)| (text(name), text(value)))
            .collect()
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.packed.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }
}

/// Whether two header names are the same, in any case. Names read from Envoy are lower
/// case, as most asked for are: the bytes are compared as they are first.
fn same_name(key: &[u8], name: &[u8]) -> bool {
    key == name || key.eq_ignore_ascii_case(name)
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(K, V)> for HeaderList {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> HeaderList {
        let mut list = HeaderList::default();
        for (name, value) in pairs {
            list.push(name, value);
        }
        list
    }
}

/// Two lists are equal when they hold the same headers in the same order.
impl PartialEq for HeaderList {
    fn eq(&self, other: &HeaderList) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for HeaderList {}

impl fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |bytes| String::from_utf8_lossy(bytes);
        f.debug_list()
            .entries(self.iter().map(|(name, value)| (text(name), text(value))))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map handed over pair by pair (natively) is the list the serialized map decodes
    /// to (on Wasm): empty names and values, repeats and order kept.
    #[test]
    fn a_map_handed_over_pair_by_pair_is_the_decoded_list() {
        let mut pairs: Vec<(String, String)> = vec![
            (":path".into(), "/x".into()),
            ("x-empty".into(), String::new()),
            (String::new(), "no name".into()),
            ("x-rep".into(), "a".into()),
            ("x-rep".into(), "b".into()),
        ];
        pairs.extend((0..40).map(|i| (format!("x-fill-{i}"), "v".repeat(i))));
        let decoded = HeaderList::decode(pairs::encode(&pairs)).expect("well formed");
        let bytes = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
        let mut packed = Packed::with_capacity(pairs.len(), bytes);
        for (name, value) in &pairs {
            packed.push(name.as_bytes(), value.as_bytes());
        }
        let handed = HeaderList { packed };
        assert_eq!(handed, decoded);
        assert_eq!(handed.len(), 45);
        assert_eq!(handed.get("x-empty"), Some(&b""[..]));
        assert_eq!(handed.get_all("x-rep").collect::<Vec<_>>(), [b"a", b"b"]);
        assert_eq!(handed.get("x-fill-39"), Some("v".repeat(39).as_bytes()));
    }
}
