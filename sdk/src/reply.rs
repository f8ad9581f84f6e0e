//! Local replies: answering a request from the filter instead of the upstream.

use crate::headers::{HeaderList, HeaderResult, check_name, check_value};
use crate::host;

/// A response the filter sends itself, built step by step.
///
/// ```
/// use envoy_wasm_sdk::LocalReply;
///
/// let reply = LocalReply::new(403)
///     .header("content-type", "text/plain")
///     .body("forbidden\n")
///     .details("auth_denied");
/// assert_eq!(reply.status_code(), 403);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    status: u16,
    body: Vec<u8>,
    headers: HeaderList,
    details: String,
    grpc_status: Option<i32>,
}

impl LocalReply {
    /// A reply with `status`, no body and details `wasm_local_reply`.
    pub fn new(status: u16) -> LocalReply {
        LocalReply {
            status,
            body: Vec::new(),
            headers: HeaderList::default(),
            details: "wasm_local_reply".to_owned(),
            grpc_status: None,
        }
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> LocalReply {
        self.body = body.into();
        self
    }

    /// Adds a header (its name lower-cased, as Envoy stores names).
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> LocalReply {
        self.headers.push(name.as_ref().to_ascii_lowercase(), value);
        self
    }

    /// Sets the response code details Envoy logs (`%RESPONSE_CODE_DETAILS%`). Envoy wants
    /// one token, so white space and control characters (CR, LF, NUL, ...) become `_`.
    pub fn details(mut self, details: &str) -> LocalReply {
        self.details = details
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        self
    }

    /// Marks the reply as a gRPC error with this status.
    pub fn grpc_status(mut self, status: i32) -> LocalReply {
        self.grpc_status = Some(status);
        self
    }

    /// The HTTP status.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// The body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The headers added.
    pub fn headers(&self) -> &HeaderList {
        &self.headers
    }

    /// The response code details.
    pub fn details_text(&self) -> &str {
        &self.details
    }

    /// Sends the reply; a header that could split the response is refused first.
    pub(crate) fn send(&self) -> HeaderResult<()> {
        let headers: Vec<(&[u8], &[u8])> = self.headers.iter().collect();
        for (name, value) in &headers {
            check_name(name, &[])?;
            check_value(name, value)?;
        }
        Ok(host::stream::send_local_response(
            u32::from(self.status),
            &self.details,
            &self.body,
            &headers,
            self.grpc_status,
        )?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_are_written_lower_cased() {
        let reply = super::LocalReply::new(401).header("WWW-Authenticate", "Key");
        assert_eq!(
            reply.headers().iter().next().unwrap().0,
            b"www-authenticate"
        );
    }
}
