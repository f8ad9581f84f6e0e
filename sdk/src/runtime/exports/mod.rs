//! Guest functions the host calls (`proxy_on_*`), one file per ABI area.
//!
//! Each export decodes its integers and hands over to the dispatcher
//! ([`dispatch`](super::dispatch)), which owns the contexts. What must name the filter crate's types is emitted there:
//! `_initialize` by [`entry!`](crate::entry), and the per-stream callbacks
//! ([`stream`], `proxy_on_log`, `proxy_on_delete`) by [`http_filter`](crate::http_filter),
//! and the connection callbacks ([`network`]) by
//! [`network_filter`](crate::network::network_filter), each of which exports only those
//! the filter needs. Everything else is exported from here.

pub mod callouts;
pub mod lifecycle;
pub mod memory;
pub mod network;
pub mod root;
pub mod stream;
