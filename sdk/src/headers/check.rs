//! Why a header is refused: names and values that could split an HTTP message, and the
//! errors that say so.

use crate::abi::MapType;
use crate::host::HostError;
use std::fmt;

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

/// `name` in lower case, as Envoy stores names (borrowed when it is already).
pub(crate) fn lowered(name: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if name.iter().any(u8::is_ascii_uppercase) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// `name` lower-cased as Envoy stores names, and checked for map `map` with `value`
/// ([`check_header`]). A lower-case token, the common case, is read once.
pub(crate) fn checked_header<'a>(
    map: MapType,
    name: &'a [u8],
    value: &[u8],
) -> Result<std::borrow::Cow<'a, [u8]>, InvalidHeader> {
    let name = if is_lower_token(name) {
        std::borrow::Cow::Borrowed(name)
    } else {
        let name = lowered(name);
        check_name(&name, pseudo_headers(map))?;
        name
    };
    check_value(&name, value)?;
    Ok(name)
}

/// The bytes of a lower-case HTTP token (RFC 9110 `tchar`, without upper-case letters),
/// as a table: one load a byte on the path every header write takes.
const LOWER_TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

/// Checks a header name: a lower-case HTTP token, or one of `pseudo`.
pub(crate) fn check_name(name: &[u8], pseudo: &[&[u8]]) -> Result<(), InvalidHeader> {
    if is_lower_token(name) {
        return Ok(());
    }
    // Refused, or a pseudo-header: the slow path says which.
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

/// Whether `name` is a lower-case HTTP token: the check's fast path.
fn is_lower_token(name: &[u8]) -> bool {
    // Every byte looked up, with no branch per byte: names are short, and a refused one
    // is rare (the slow path then says why).
    !name.is_empty()
        && name
            .iter()
            .fold(true, |token, &b| token & LOWER_TOKEN[usize::from(b)])
}

/// Whether byte `b` may not be in a header value: CR, LF or NUL.
fn splits(b: &u8) -> bool {
    matches!(b, b'\r' | b'\n' | 0)
}

/// Whether `value` has a byte that [`splits`] a message, read eight bytes at a time.
fn has_splitting_byte(value: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Whether a word has a zero byte: a byte's high bit survives only where the byte
    // was zero, or where a zero byte below it borrowed, so never without a zero byte.
    let has_zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS != 0;
    let splitting = |word: u64| {
        has_zero(word)
            || has_zero(word ^ (ONES * u64::from(b'\r')))
            || has_zero(word ^ (ONES * u64::from(b'\n')))
    };
    // A short value (most are) as one word of two halves that overlap.
    if let 4..=7 = value.len() {
        let half = |at: usize| {
            let bytes: [u8; 4] = value[at..at + 4].try_into().unwrap_or_default();
            u64::from(u32::from_le_bytes(bytes))
        };
        return splitting(half(0) | half(value.len() - 4) << 32);
    }
    let (words, tail) = value.as_chunks::<8>();
    words
        .iter()
        .any(|word| splitting(u64::from_ne_bytes(*word)))
        || tail.iter().any(splits)
}

/// Checks a header value: no CR, LF or NUL.
#[inline(always)]
pub(crate) fn check_value(name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
    if !has_splitting_byte(value) {
        return Ok(());
    }
    match value.iter().find(|b| splits(b)) {
        Some(bad) => Err(refused(name, HeaderProblem::ControlInValue(*bad))),
        None => Ok(()),
    }
}

/// Checks a header for map `map` (pseudo-headers as that map allows them).
pub(crate) fn check_header(map: MapType, name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
    check_name(name, pseudo_headers(map))?;
    check_value(name, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's fast path accepts exactly the one-byte names the full check accepts.
    #[test]
    fn the_token_table_agrees_with_the_rules_for_every_byte() {
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            let expected = tchar && !b.is_ascii_uppercase();
            assert_eq!(LOWER_TOKEN[usize::from(b)], expected, "byte {b}");
            assert_eq!(check_name(&[b, b'a'], &[]).is_ok(), expected, "byte {b}");
        }
        assert!(check_name(b":path", &[b":path"]).is_ok());
        assert!(check_name(b":nope", &[b":path"]).is_err());
    }

    /// The word-at-a-time check finds exactly the values the byte-by-byte rule refuses:
    /// every byte, at every place in values of every length up to three words.
    #[test]
    fn the_value_check_reads_words_as_the_rule_reads_bytes() {
        for len in 1..=24 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut value = vec![b'a'; len];
                    value[at] = b;
                    assert_eq!(
                        has_splitting_byte(&value),
                        splits(&b),
                        "{b} at {at} of {len}"
                    );
                    // Every other byte one above it: refused bytes beside each other, and
                    // beside the bytes next to them.
                    value.iter_mut().for_each(|v| *v = b.wrapping_add(1));
                    value[at] = b;
                    let expected = value.iter().any(splits);
                    assert_eq!(has_splitting_byte(&value), expected, "{b} at {at} of {len}");
                }
            }
        }
        assert!(!has_splitting_byte(b""));
        assert!(check_value(b"x", b"a\tb").is_ok());
        assert!(check_name(b"", &[]).is_err());
    }
}
