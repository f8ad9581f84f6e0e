//! A header value: bytes, with text views and the checks that keep a message whole.

use super::check::{InvalidHeader, check_value};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::fmt;
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
pub struct HeaderValue(Bytes);

/// How many bytes a value keeps inline, with no allocation (most values are shorter).
const INLINE: usize = 24;

/// A value's bytes: inline up to [`INLINE`], else on the heap.
type Bytes = SmallVec<[u8; INLINE]>;

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
        self.0.into_vec()
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

/// A value the host handed over (it is the host's to have checked).
impl crate::host::headers::FromHost for HeaderValue {
    fn from_copy(bytes: Vec<u8>) -> HeaderValue {
        HeaderValue(Bytes::from_vec(bytes))
    }

    fn from_borrowed(bytes: &[u8]) -> HeaderValue {
        match inline_copy(bytes) {
            Some(inline) => HeaderValue(Bytes::from_buf_and_len(inline, bytes.len())),
            None => HeaderValue(Bytes::from_slice(bytes)),
        }
    }
}

/// `bytes` in an inline buffer, if they fit: copied in whole words (the last one
/// overlapping the one before), with no call to `memcpy` for a short value.
fn inline_copy(bytes: &[u8]) -> Option<[u8; INLINE]> {
    let mut inline = [0u8; INLINE];
    let length = bytes.len();
    match length {
        0 => {}
        1..=3 => {
            // The first, middle and last bytes cover a value of up to three.
            inline[0] = bytes[0];
            inline[length / 2] = bytes[length / 2];
            inline[length - 1] = bytes[length - 1];
        }
        4..=7 => {
            inline[..4].copy_from_slice(&bytes[..4]);
            inline[length - 4..length].copy_from_slice(&bytes[length - 4..]);
        }
        8..=INLINE => {
            let (words, _) = bytes.as_chunks::<8>();
            for (at, word) in words.iter().enumerate() {
                inline[at * 8..at * 8 + 8].copy_from_slice(word);
            }
            inline[length - 8..length].copy_from_slice(&bytes[length - 8..]);
        }
        _ => return None,
    }
    Some(inline)
}

impl TryFrom<Vec<u8>> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(bytes: Vec<u8>) -> Result<HeaderValue, InvalidHeader> {
        check_value(b"", &bytes)?;
        Ok(HeaderValue(Bytes::from_vec(bytes)))
    }
}

impl TryFrom<&[u8]> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(bytes: &[u8]) -> Result<HeaderValue, InvalidHeader> {
        check_value(b"", bytes)?;
        Ok(HeaderValue(Bytes::from_slice(bytes)))
    }
}

impl TryFrom<&str> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(text: &str) -> Result<HeaderValue, InvalidHeader> {
        HeaderValue::try_from(text.as_bytes())
    }
}

impl TryFrom<String> for HeaderValue {
    type Error = InvalidHeader;
    fn try_from(text: String) -> Result<HeaderValue, InvalidHeader> {
        HeaderValue::try_from(text.into_bytes())
    }
}
impl PartialEq<str> for HeaderValue {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other.as_bytes()
    }
}

impl PartialEq<&str> for HeaderValue {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == *other.as_bytes()
    }
}

impl PartialEq<[u8]> for HeaderValue {
    fn eq(&self, other: &[u8]) -> bool {
        *self.0 == *other
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::headers::FromHost;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn hash(value: &HeaderValue) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    /// A value is the same value whether its bytes are kept inline (short) or on the heap,
    /// however it was made: compared, hashed, ordered and handed back alike.
    #[test]
    fn a_value_is_the_same_kept_inline_or_on_the_heap() {
        // Every length a value is kept inline at (each copied in its own way), and beyond.
        for len in (0..=INLINE + 1).chain([300]) {
            let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let copied = HeaderValue::from_copy(bytes.clone());
            let borrowed = HeaderValue::from_borrowed(&bytes);
            let checked = HeaderValue::try_from(bytes.as_slice()).expect("a plain value");
            assert_eq!(copied, borrowed, "length {len}");
            assert_eq!(borrowed, checked, "length {len}");
            assert_eq!(hash(&copied), hash(&borrowed), "length {len}");
            assert_eq!(copied.cmp(&borrowed), std::cmp::Ordering::Equal);
            assert_eq!(&*borrowed, bytes.as_slice());
            assert_eq!(borrowed.clone().into_bytes(), bytes);
        }
        let short = HeaderValue::from_borrowed(b"/");
        let long = HeaderValue::from_borrowed(&[b'/'; 40]);
        assert!(short < long && short != long);
        assert!(HeaderValue::try_from(&b"a\r\nb"[..]).is_err());
    }
}
