//! Host functions (imports from the `env` module), one file per ABI area.

pub mod buffers;
pub mod context;
pub mod foreign;
pub mod grpc;
pub mod headers;
pub mod http_call;
pub mod log;
pub mod metrics;
pub mod properties;
pub mod shared_data;
pub mod shared_queue;
pub mod stream;
pub mod time;

pub use buffers::*;
pub use context::*;
pub use foreign::*;
pub use grpc::*;
pub use headers::*;
pub use http_call::*;
pub use log::*;
pub use metrics::*;
pub use properties::*;
pub use shared_data::*;
pub use shared_queue::*;
pub use stream::*;
pub use time::*;

/// Every host function, as a wasm guest imports it from `env`.
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub const GUEST_CALLS: [&[crate::abi::native::GuestCall]; 13] = [
    buffers::GUEST_CALLS,
    context::GUEST_CALLS,
    foreign::GUEST_CALLS,
    grpc::GUEST_CALLS,
    headers::GUEST_CALLS,
    http_call::GUEST_CALLS,
    log::GUEST_CALLS,
    metrics::GUEST_CALLS,
    properties::GUEST_CALLS,
    shared_data::GUEST_CALLS,
    shared_queue::GUEST_CALLS,
    stream::GUEST_CALLS,
    time::GUEST_CALLS,
];
