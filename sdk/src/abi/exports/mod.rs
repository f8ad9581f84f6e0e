//! Guest functions the host calls (`proxy_on_*`), one file per ABI area.
//!
//! Each export decodes its integers and hands over to the [dispatcher](crate::dispatch),
//! which owns the contexts. `_initialize` is emitted by [`entry!`](crate::entry) in the
//! filter crate, because it must name the filter's plugin type.

pub mod callouts;
pub mod lifecycle;
pub mod memory;
pub mod network;
pub mod root;
pub mod stream;
