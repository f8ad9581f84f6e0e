//! The two messages of `auth.v1.Authorizer/Check`, as `prost` types (no `protoc`, no build
//! script: the derive is the schema):
//!
//! ```proto
//! message CheckRequest { string token = 1; string path = 2; }
//! message CheckResponse { bool allowed = 1; string user = 2; }
//! ```

/// `CheckRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CheckRequest {
    /// The caller's token.
    #[prost(string, tag = "1")]
    pub token: String,
    /// The path it asks for.
    #[prost(string, tag = "2")]
    pub path: String,
}

/// `CheckResponse`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CheckResponse {
    /// Whether the request may go on.
    #[prost(bool, tag = "1")]
    pub allowed: bool,
    /// Who the caller is.
    #[prost(string, tag = "2")]
    pub user: String,
}
