//! Serialization of header maps and gRPC metadata, as the ABI defines it.
//!
//! A map is a little-endian `u32` count, then a `u32` key length and `u32` value length
//! per pair, then each key and each value followed by a NUL byte. An empty map may be
//! zero bytes or a single `0`.

/// A map's pairs packed in two allocations: every name and value back to back, and where
/// each one is. A host that hands a map over pair by pair rather than serialized fills one
/// (the native target, from Envoy's own map: see `DirectHeadersHost` in
/// [`imports`](crate::abi::imports), off wasm); [`HeaderList`](crate::HeaderList) keeps
/// its headers in one.
///
/// ```
/// use envoy_wasm_sdk::abi::pairs::Packed;
///
/// let mut packed = Packed::with_capacity(2, 12);
/// packed.push(b":path", b"/x");
/// packed.push(b"x-a", b"1");
/// assert_eq!(packed.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Packed {
    /// Every name and value, back to back.
    pub(crate) bytes: Vec<u8>,
    /// Offsets into `bytes`: name start, name length, value start, value length.
    pub(crate) entries: Vec<[u32; 4]>,
}

impl Packed {
    /// Room for `count` pairs of `bytes` bytes in all (names and values).
    pub fn with_capacity(count: usize, bytes: usize) -> Packed {
        Packed {
            bytes: Vec::with_capacity(bytes),
            entries: Vec::with_capacity(count),
        }
    }

    /// Appends a pair.
    #[inline]
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
        self.entries.push([
            at as u32,
            name.len() as u32,
            (at + name.len()) as u32,
            value.len() as u32,
        ]);
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Serializes `pairs` into one buffer.
pub fn encode<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    encode_iter(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
}

/// Serializes the pairs `pairs` yields (walked twice: lengths, then bytes) into one
/// buffer of exactly the size it needs.
pub fn encode_iter<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Vec<u8> {
    let (count, data) = pairs.clone().fold((0usize, 0usize), |(n, data), (k, v)| {
        (n + 1, data + k.len() + v.len() + 2)
    });
    let mut out = Vec::with_capacity(4 + count * 8 + data);
    out.extend_from_slice(&(count as u32).to_le_bytes());
    for (k, v) in pairs.clone() {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// The map could not be decoded: a length points past the end of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// One key and value, borrowed from a serialized map.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Decodes a serialized map into borrowed key/value slices, checking every length.
///
/// # Errors
/// [`Malformed`] when a length points past the end of the buffer.
pub fn decode(bytes: &[u8]) -> Result<Vec<Pair<'_>>, Malformed> {
    if bytes.len() <= 1 {
        return Ok(Vec::new());
    }
    let read_u32 = |at: usize| -> Result<usize, Malformed> {
        let end = at.checked_add(4).ok_or(Malformed)?;
        let word = bytes.get(at..end).ok_or(Malformed)?;
        Ok(u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize)
    };
    // Every offset is computed with overflow checks: the lengths come from the host.
    let slice_at = |start: usize, len: usize| -> Result<(&[u8], usize), Malformed> {
        let end = start.checked_add(len).ok_or(Malformed)?;
        let slice = bytes.get(start..end).ok_or(Malformed)?;
        Ok((slice, end.checked_add(1).ok_or(Malformed)?))
    };
    let count = read_u32(0)?;
    let mut data = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .ok_or(Malformed)?;
    if data > bytes.len() {
        return Err(Malformed);
    }
    let mut pairs = Vec::with_capacity(count);
    for i in 0..count {
        // `count * 8 + 4` fits (checked above), so these offsets do too.
        let key_len = read_u32(4 + i * 8)?;
        let value_len = read_u32(8 + i * 8)?;
        let (key, after_key) = slice_at(data, key_len)?;
        let (value, after_value) = slice_at(after_key, value_len)?;
        data = after_value;
        pairs.push((key, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_near_usize_max_are_malformed_not_a_panic() {
        let mut map = Vec::new();
        map.extend_from_slice(&1u32.to_le_bytes());
        map.extend_from_slice(&u32::MAX.to_le_bytes());
        map.extend_from_slice(&u32::MAX.to_le_bytes());
        map.extend_from_slice(b"k\0v\0");
        assert_eq!(decode(&map), Err(Malformed));
    }

    #[test]
    fn encodes_the_spec_example() {
        let bytes = encode(&[("a", "1"), ("b", "22")]);
        let expected: &[u8] = &[
            2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, b'a', 0, b'1', 0, b'b', 0,
            b'2', b'2', 0,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn decodes_what_it_encodes_including_binary_values() {
        let pairs: Vec<(&[u8], &[u8])> =
            vec![(b":path", b"/x"), (b"bin", &[0xff, 0, 1]), (b"e", b"")];
        let bytes = encode(&pairs);
        assert_eq!(decode(&bytes).unwrap(), pairs);
    }

    #[test]
    fn empty_maps_in_both_spellings() {
        assert!(decode(&[]).unwrap().is_empty());
        assert!(decode(&[0]).unwrap().is_empty());
        assert!(decode(&encode::<&str, &str>(&[])).unwrap().is_empty());
    }

    #[test]
    fn rejects_lengths_past_the_end() {
        let mut bytes = encode(&[("key", "value")]);
        bytes.truncate(bytes.len() - 3);
        assert_eq!(decode(&bytes), Err(Malformed));
        assert_eq!(decode(&[9, 0, 0, 0, 1]), Err(Malformed));
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
            Err(Malformed)
        );
    }
}
