//! The error a filter callback returns; the SDK turns it into a local reply.

use crate::reply::LocalReply;
use std::fmt;

/// A failed filter callback.
///
/// Returning `Err` from a [`HttpFilter`](crate::HttpFilter) callback logs the message at
/// error level and answers the request with a local reply instead of trapping the VM:
///
/// - [`Error::new`] (and any `std::error::Error` through `?`) answers **500** with an
///   empty body, so internals never reach the client;
/// - [`Error::with_status`] answers with that status and the message as the body, for
///   errors the client should see (a missing header, a bad token).
///
/// ```
/// use envoy_wasm_sdk::Error;
///
/// let internal = Error::new("upstream map is corrupt");
/// assert_eq!(internal.status_code(), 500);
///
/// let client = Error::with_status(400, "missing header x-api-key");
/// assert_eq!(client.status_code(), 400);
/// ```
pub struct Error(Box<Failure>);

/// What an [`Error`] holds, boxed: a callback's `Result<Action, Error>` stays two words.
struct Failure {
    message: String,
    reply: LocalReply,
}

impl Error {
    /// An internal failure: 500, empty body, `message` goes to the log only.
    pub fn new(message: impl Into<String>) -> Error {
        Error(Box::new(Failure {
            message: message.into(),
            reply: LocalReply::new(500).details("wasm_filter_error"),
        }))
    }

    /// A failure the client should see: `status`, with `message` as the response body.
    pub fn with_status(status: u16, message: impl Into<String>) -> Error {
        let message = message.into();
        let body = format!("{message}\n");
        Error(Box::new(Failure {
            message,
            reply: LocalReply::new(status)
                .body(body)
                .details("wasm_filter_error"),
        }))
    }

    /// A failure answered with exactly `reply`; `message` goes to the log.
    pub fn with_reply(reply: LocalReply, message: impl Into<String>) -> Error {
        Error(Box::new(Failure {
            message: message.into(),
            reply,
        }))
    }

    /// The status of the local reply this error becomes.
    pub fn status_code(&self) -> u16 {
        self.0.reply.status_code()
    }

    /// The message that is logged.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The local reply this error becomes.
    pub fn reply(&self) -> &LocalReply {
        &self.0.reply
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Error {
        Error::new(error.to_string())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("status", &self.status_code())
            .field("message", &self.0.message)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}
