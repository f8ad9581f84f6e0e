//! Network (TCP) filters: one value per connection, called as its bytes go by.
//!
//! Envoy runs a network filter (`envoy.filters.network.wasm`) on each downstream
//! connection of a listener, before the filter that proxies it (`tcp_proxy`, say). A plugin
//! that offers one implements [`NetworkPlugin`] beside [`Plugin`]; its
//! [`create_connection`](NetworkPlugin::create_connection) makes one [`NetworkFilter`] per
//! connection. A plugin may offer an HTTP filter too, or none (`type Filter = NoFilter`).
//!
//! Each callback gets only what is valid then: the data callbacks lend the chunk as a
//! [`Body`] (read, replace, append), every callback has the connection's properties
//! (`source.address`, `connection.requested_server_name`, `connection.tls_version`, ...)
//! and a [`Connection`] handle to close it. A callback's `Err` is logged and closes the
//! connection, never a trap.
//!
//! ```
//! use envoy_wasm_sdk::network::{
//!     CloseOps, DataOps, NetworkFilter, NetworkPlugin, PeerType, network_filter,
//! };
//! use envoy_wasm_sdk::prelude::*;
//! use envoy_wasm_sdk::service::NoFilter;
//! use std::rc::Rc;
//!
//! struct Guard;
//!
//! impl Plugin for Guard {
//!     type Config = ();
//!     type Filter = NoFilter; // no HTTP filter: a network filter only
//!     fn configure(_: (), _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
//!         Ok(Guard)
//!     }
//!     fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<NoFilter> {
//!         Some(NoFilter)
//!     }
//! }
//!
//! impl NetworkPlugin for Guard {
//!     type Connection = Counted;
//!     fn create_connection(self: Rc<Self>, _connection: NewContext) -> Option<Counted> {
//!         Some(Counted { received: 0 })
//!     }
//! }
//!
//! /// Counts what the client sends; refuses plaintext HTTP.
//! struct Counted {
//!     received: usize,
//! }
//!
//! #[network_filter]
//! impl NetworkFilter for Counted {
//!     fn on_downstream_data(&mut self, data: &mut DataOps) -> Result<Action, Error> {
//!         if self.received == 0 && data.data().read(..4)? == b"GET " {
//!             data.connection().close_downstream()?;
//!             return Ok(Action::Pause);
//!         }
//!         self.received += data.data().len();
//!         Ok(Action::Continue)
//!     }
//!
//!     fn on_downstream_close(&mut self, _close: &mut CloseOps, peer: PeerType) {
//!         log::info!("closed by {peer:?} after {} bytes", self.received);
//!     }
//! }
//!
//! envoy_wasm_sdk::entry!(Guard);
//! ```
//!
//! What `Action::Pause` does follows Envoy: from `on_downstream_data` it holds the bytes
//! (the next call sees them and what came after, until
//! [`Connection::resume_downstream`] or `Continue`); from `on_upstream_data` it holds
//! what the upstream sent likewise. Envoy announces a connection's end once, when the
//! downstream side closes ([`NetworkFilter::on_downstream_close`]), and then
//! [`on_connection_done`](NetworkFilter::on_connection_done) runs: the filter is dropped
//! after it.

pub use crate::abi::{Action, PeerType};
use crate::abi::{BufferType, StreamType};
use crate::body::Body;
use crate::error::Error;
use crate::host::{self, HostResult};
use crate::plugin::{NewContext, Plugin};
use crate::properties::{Properties, PropertiesMut};
use std::rc::Rc;

pub use envoy_wasm_sdk_macros::network_filter;

/// A plugin that offers a network filter: one [`NetworkFilter`] per downstream connection.
pub trait NetworkPlugin: Plugin {
    /// The filter of one connection.
    type Connection: ConnectionExports;

    /// Makes the filter of a new connection (at its first callback), or declines the
    /// connection (`None`): its bytes then pass untouched, and no filter runs for it.
    fn create_connection(self: Rc<Self>, connection: NewContext) -> Option<Self::Connection>;
}

/// Implemented by [`network_filter`] for the filter type it is put on.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not exported to Envoy",
    label = "needs `#[envoy_wasm_sdk::network::network_filter]` on its `impl NetworkFilter`",
    note = "put `#[envoy_wasm_sdk::network::network_filter]` on `impl NetworkFilter for {Self}`: it exports the callbacks the filter implements"
)]
pub trait ConnectionExports: NetworkFilter {
    /// The connection callbacks the module exports: Envoy calls only these, and so does the
    /// emulator.
    const EXPORTS: &'static [&'static str];
}

/// A network filter: one value per connection.
///
/// Every callback has a default that lets the bytes go on, so a filter implements only
/// what it needs.
///
/// # Errors
/// A callback's `Err` is logged and closes the connection.
#[allow(unused_variables, clippy::missing_errors_doc)]
pub trait NetworkFilter: Sized + 'static {
    /// A client connected.
    fn on_new_connection(&mut self, conn: &mut NewConnectionOps) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// Bytes arrived from the client, on their way to the upstream (or, after `Pause`,
    /// all held so far and the new ones).
    fn on_downstream_data(&mut self, data: &mut DataOps) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// Bytes arrived from the upstream, on their way to the client.
    fn on_upstream_data(&mut self, data: &mut DataOps) -> Result<Action, Error> {
        Ok(Action::Continue)
    }

    /// The downstream connection closed: by the client (`Remote`) or by Envoy (`Local`,
    /// after the upstream closed, say, or the filter asked). Nothing more will arrive.
    fn on_downstream_close(&mut self, close: &mut CloseOps, peer: PeerType) {}

    /// The upstream has sent its last byte (Envoy reports it when it relays the
    /// upstream's end of stream; the peer is `Unknown`).
    fn on_upstream_close(&mut self, close: &mut CloseOps, peer: PeerType) {}

    /// The connection is over: the last callback, after
    /// [`on_downstream_close`](Self::on_downstream_close). Its properties are readable.
    fn on_connection_done(&mut self, done: &mut ConnectionDoneOps) {}
}

/// A handle on the connection, for closing or resuming it (now, or later from a timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    context_id: u32,
}

impl Connection {
    pub(crate) const fn new(context_id: u32) -> Connection {
        Connection { context_id }
    }

    /// The host's id of this connection's context.
    pub fn context_id(&self) -> u32 {
        self.context_id
    }

    /// Lets the client's bytes held by `Action::Pause` go on to the upstream.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn resume_downstream(&self) -> HostResult<()> {
        host::context::on_context(self.context_id, || {
            host::stream::resume(StreamType::Downstream)
        })
    }

    /// Closes the client's connection once what was written to it is flushed; the
    /// upstream connection closes with it. Envoy then reports the close
    /// ([`NetworkFilter::on_downstream_close`] with `Local`).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn close_downstream(&self) -> HostResult<()> {
        host::context::on_context(self.context_id, || {
            host::stream::close(StreamType::Downstream)
        })
    }

    /// Closes the connection from the upstream's side. In Envoy 1.40 this closes the same
    /// downstream connection as [`close_downstream`](Self::close_downstream) (a network
    /// filter sits on the downstream connection; `tcp_proxy` then closes the upstream).
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn close_upstream(&self) -> HostResult<()> {
        host::context::on_context(self.context_id, || {
            host::stream::close(StreamType::Upstream)
        })
    }
}

/// What every connection phase offers: properties, the clock, the connection handle.
macro_rules! connection_phase {
    ($phase:ident) => {
        impl $phase {
            /// Envoy's properties of this connection (`source.address`,
            /// `connection.requested_server_name`, `connection.tls_version`, ...).
            pub fn properties(&self) -> PropertiesMut<'_> {
                PropertiesMut::new()
            }

            /// The host's clock.
            ///
            /// # Errors
            /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
            pub fn now(&self) -> HostResult<std::time::SystemTime> {
                host::time::now()
            }

            /// A handle on this connection.
            pub fn connection(&self) -> Connection {
                Connection::new(self.context_id)
            }
        }
    };
}

/// Operations valid in [`NetworkFilter::on_new_connection`].
#[derive(Debug)]
pub struct NewConnectionOps {
    context_id: u32,
}

impl NewConnectionOps {
    pub(crate) const fn new(context_id: u32) -> Self {
        NewConnectionOps { context_id }
    }
}
connection_phase!(NewConnectionOps);

/// Operations valid in a data callback: the chunk, lent for the callback.
#[derive(Debug)]
pub struct DataOps {
    context_id: u32,
    data: Body,
    end_of_stream: bool,
}

impl DataOps {
    pub(crate) const fn new(
        context_id: u32,
        buffer: BufferType,
        size: usize,
        end_of_stream: bool,
    ) -> Self {
        DataOps {
            context_id,
            data: Body::new(buffer, size),
            end_of_stream,
        }
    }

    /// The bytes available now: readable, replaceable, appendable.
    pub fn data(&mut self) -> &mut Body {
        &mut self.data
    }

    /// Whether the sender has half-closed: no more bytes follow from it.
    pub fn end_of_stream(&self) -> bool {
        self.end_of_stream
    }
}
connection_phase!(DataOps);

/// Operations valid in a close callback.
#[derive(Debug)]
pub struct CloseOps {
    context_id: u32,
}

impl CloseOps {
    pub(crate) const fn new(context_id: u32) -> Self {
        CloseOps { context_id }
    }
}
connection_phase!(CloseOps);

/// Operations valid in [`NetworkFilter::on_connection_done`]: reading only.
#[derive(Debug)]
pub struct ConnectionDoneOps {
    _private: (),
}

impl ConnectionDoneOps {
    pub(crate) const fn new() -> Self {
        ConnectionDoneOps { _private: () }
    }

    /// Envoy's properties of the finished connection.
    pub fn properties(&self) -> Properties<'_> {
        Properties::new()
    }

    /// The host's clock.
    ///
    /// # Errors
    /// Fails with the host's status ([`HostError`](crate::HostError)) when Envoy refuses the call.
    pub fn now(&self) -> HostResult<std::time::SystemTime> {
        host::time::now()
    }
}
