//! The two messages of `auth.v1.Authorizer/Check`, encoded by hand (protobuf wire format):
//!
//! ```proto
//! message CheckRequest { string token = 1; string path = 2; }
//! message CheckResponse { bool allowed = 1; string user = 2; }
//! ```

/// `CheckRequest`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    /// The caller's token.
    pub token: String,
    /// The path it asks for.
    pub path: String,
}

/// `CheckResponse`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckResponse {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Who the caller is.
    pub user: String,
}

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn string_field(number: u64, text: &str, out: &mut Vec<u8>) {
    if !text.is_empty() {
        varint(number << 3 | 2, out);
        varint(text.len() as u64, out);
        out.extend_from_slice(text.as_bytes());
    }
}

/// A field's value on the wire.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// Walks the fields of a message: (field number, value).
fn fields(mut bytes: &[u8]) -> Option<Vec<(u64, Value<'_>)>> {
    fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = read_varint(&mut bytes)?;
        match key & 7 {
            0 => out.push((key >> 3, Value::Varint(read_varint(&mut bytes)?))),
            2 => {
                let len = usize::try_from(read_varint(&mut bytes)?).ok()?;
                let (value, rest) = (bytes.get(..len)?, bytes.get(len..)?);
                bytes = rest;
                out.push((key >> 3, Value::Bytes(value)));
            }
            _ => return None,
        }
    }
    Some(out)
}

impl CheckRequest {
    /// Serializes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        string_field(1, &self.token, &mut out);
        string_field(2, &self.path, &mut out);
        out
    }

    /// Parses; `None` if malformed.
    pub fn decode(bytes: &[u8]) -> Option<CheckRequest> {
        let mut message = CheckRequest::default();
        for (number, value) in fields(bytes)? {
            let text = match value {
                Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Value::Varint(_) => return None,
            };
            match number {
                1 => message.token = text,
                2 => message.path = text,
                _ => {}
            }
        }
        Some(message)
    }
}

impl CheckResponse {
    /// Serializes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.allowed {
            out.extend_from_slice(&[0x08, 0x01]);
        }
        string_field(2, &self.user, &mut out);
        out
    }

    /// Parses; `None` if malformed.
    pub fn decode(bytes: &[u8]) -> Option<CheckResponse> {
        let mut message = CheckResponse::default();
        for (number, value) in fields(bytes)? {
            match (number, value) {
                (1, Value::Varint(flag)) => message.allowed = flag != 0,
                (2, Value::Bytes(text)) => {
                    message.user = String::from_utf8_lossy(text).into_owned()
                }
                (1 | 2, _) => return None,
                _ => {}
            }
        }
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_the_wire_format() {
        let request = CheckRequest {
            token: "t".into(),
            path: "/p".into(),
        };
        assert_eq!(request.encode(), [0x0a, 1, b't', 0x12, 2, b'/', b'p']);
        assert_eq!(CheckRequest::decode(&request.encode()), Some(request));
        let response = CheckResponse {
            allowed: true,
            user: "ann".into(),
        };
        assert_eq!(CheckResponse::decode(&response.encode()), Some(response));
        assert_eq!(CheckResponse::decode(&[]), Some(CheckResponse::default()));
        assert_eq!(
            CheckResponse::decode(&[0x12, 9, b'x']),
            None,
            "length past the end"
        );
    }
}
