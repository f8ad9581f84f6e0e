//! Network filters' connections: made at their first callback, called as their bytes go
//! by, dropped after their close.
//!
//! A connection is bound to its plugin context when Envoy creates it, like a stream (see
//! [`state`](super::state)); its filter is made by that plugin at its first callback.
//! Envoy announces a connection's end once: `proxy_on_downstream_connection_close` (the
//! downstream connection is the one a network filter sits on), then `proxy_on_done`,
//! `proxy_on_log` and `proxy_on_delete`. `#[network_filter]` exports the close, so the
//! filter's last look ([`NetworkFilter::on_connection_done`]) runs there and the filter is
//! dropped then; the connection's binding stays until Envoy deletes it, so that
//! `proxy_on_log` does not mistake it for an HTTP stream.

use crate::abi::{Action, BufferType, PeerType, StreamType};
use crate::error::Error;
use crate::host;
use crate::network::{
    CloseOps, ConnectionDoneOps, ConnectionExports, DataOps, NetworkFilter, NetworkPlugin,
    NewConnectionOps,
};
use crate::plugin::NewContext;
use crate::runtime::access::{binding, bound_root, guarded};
use crate::runtime::contexts::{ConnectionContext, Made, NetworkEvent, Slot};
use crate::runtime::state;
use std::marker::PhantomData;
use std::rc::Rc;

struct ConnectionFilter<N> {
    filter: N,
    finished: bool,
}

impl<N: NetworkFilter> ConnectionContext for ConnectionFilter<N> {
    fn on_event(&mut self, id: u32, event: NetworkEvent) -> Action {
        let filter = &mut self.filter;
        let (callback, result) = match event {
            NetworkEvent::NewConnection => (
                "on_new_connection",
                filter.on_new_connection(&mut NewConnectionOps::new(id)),
            ),
            NetworkEvent::DownstreamData {
                size,
                end_of_stream,
            } => (
                "on_downstream_data",
                filter.on_downstream_data(&mut DataOps::new(
                    id,
                    BufferType::DownstreamData,
                    size,
                    end_of_stream,
                )),
            ),
            NetworkEvent::UpstreamData {
                size,
                end_of_stream,
            } => (
                "on_upstream_data",
                filter.on_upstream_data(&mut DataOps::new(
                    id,
                    BufferType::UpstreamData,
                    size,
                    end_of_stream,
                )),
            ),
            NetworkEvent::UpstreamClose(peer) => {
                filter.on_upstream_close(&mut CloseOps::new(id), peer);
                return Action::Continue;
            }
        };
        result.unwrap_or_else(|error| close_on_error(callback, &error))
    }

    fn finish(&mut self, id: u32, peer: PeerType) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.filter
            .on_downstream_close(&mut CloseOps::new(id), peer);
        self.filter
            .on_connection_done(&mut ConnectionDoneOps::new());
    }
}

/// A callback's `Err`: logged, and the connection closed (what was written is flushed).
fn close_on_error(callback: &str, error: &Error) -> Action {
    log::error!("{callback} failed: {error} (closing the connection)");
    if let Err(close_error) = host::stream::close(StreamType::Downstream) {
        log::error!("{callback}: cannot close the connection: {close_error}");
    }
    Action::Pause
}

/// Whether, and how, a plugin makes connections: what `entry!` finds out about a plugin
/// type ([`WithConnections`] for a [`NetworkPlugin`], else [`NoConnections`]).
#[doc(hidden)]
pub trait Connections<P>: Copy + 'static {
    /// The filter of a new connection of `plugin`, if it has network filters and does not
    /// decline the connection.
    #[allow(private_interfaces)]
    fn create(plugin: Rc<P>, connection: NewContext) -> Made<dyn ConnectionContext>;
    /// The connection callbacks the module exports.
    fn exports() -> &'static [&'static str];
}

/// A plugin with a network filter.
#[doc(hidden)]
pub struct WithConnections<P>(PhantomData<P>);

impl<P> Clone for WithConnections<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for WithConnections<P> {}

impl<P: NetworkPlugin> Connections<P> for WithConnections<P> {
    #[allow(private_interfaces)]
    fn create(plugin: Rc<P>, connection: NewContext) -> Made<dyn ConnectionContext> {
        match plugin.create_connection(connection) {
            Some(filter) => Made::Filter(Box::new(ConnectionFilter {
                filter,
                finished: false,
            })),
            None => Made::Declined,
        }
    }

    fn exports() -> &'static [&'static str] {
        <P::Connection as ConnectionExports>::EXPORTS
    }
}

/// A plugin without one.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct NoConnections;

impl<P: 'static> Connections<P> for NoConnections {
    #[allow(private_interfaces)]
    fn create(_plugin: Rc<P>, _connection: NewContext) -> Made<dyn ConnectionContext> {
        Made::Unavailable
    }

    fn exports() -> &'static [&'static str] {
        &[]
    }
}

/// How `entry!` tells the two apart without requiring anything of a plugin: method
/// resolution tries the impl on `&NetworkProbe<P>` (for a [`NetworkPlugin`]) before the
/// fallback on `NetworkProbe<P>`.
#[doc(hidden)]
pub mod probe {
    use super::*;

    /// Stands for plugin type `P`.
    pub struct NetworkProbe<P>(PhantomData<P>);

    impl<P> Default for NetworkProbe<P> {
        fn default() -> Self {
            NetworkProbe(PhantomData)
        }
    }

    /// Found for a plugin with a network filter.
    pub trait HasNetwork<P> {
        /// [`WithConnections`].
        fn connections(&self) -> WithConnections<P> {
            WithConnections(PhantomData)
        }
    }

    impl<P: NetworkPlugin> HasNetwork<P> for &NetworkProbe<P> {}

    /// The fallback.
    pub trait LacksNetwork {
        /// [`NoConnections`].
        fn connections(&self) -> NoConnections {
            NoConnections
        }
    }

    impl<P> LacksNetwork for NetworkProbe<P> {}
}

/// Runs `call` on the filter of connection `context_id`, taken out of its slot while it
/// runs; `create` makes it first, by the connection's plugin, if it has none (its first
/// callback).
fn with_connection<R>(
    context_id: u32,
    create: bool,
    call: impl FnOnce(&mut dyn ConnectionContext) -> R,
) -> Option<R> {
    let found = state::with(|d| {
        let binding = binding(d, context_id)?;
        match std::mem::replace(&mut binding.slot, Slot::Busy) {
            Slot::Connection(filter) => Some(Some(filter)),
            Slot::Unmade if create => Some(None),
            other => {
                binding.slot = other;
                None
            }
        }
    })?;
    let mut filter = match found {
        Some(filter) => filter,
        None => {
            let made = bound_root(context_id).map(|(_, root)| root.create_connection(context_id));
            match made {
                Some(Made::Filter(filter)) => filter,
                Some(Made::Unavailable) | None => {
                    log::error!(
                        "connection {context_id}: its plugin has no network filter (is the module configured as an HTTP filter's?)"
                    );
                    put_back(context_id, Slot::Declined);
                    return None;
                }
                Some(_) => {
                    put_back(context_id, Slot::Declined);
                    return None;
                }
            }
        }
    };
    let result = call(&mut *filter);
    put_back(context_id, Slot::Connection(filter));
    Some(result)
}

/// Sets connection `context_id`'s slot; what it held is dropped after the dispatcher is
/// released (a filter's `Drop` is user code).
fn put_back(context_id: u32, slot: Slot) {
    let gone = state::with(|d| match d.binding(context_id) {
        Some(binding) => Some(std::mem::replace(&mut binding.slot, slot)),
        None => Some(slot),
    });
    drop(gone);
}

/// A connection callback from Envoy; creates the connection's filter at its first one.
pub(crate) fn on_network(context_id: u32, event: NetworkEvent) -> u32 {
    let run = |filter: &mut dyn ConnectionContext| filter.on_event(context_id, event);
    guarded(|| with_connection(context_id, true, run))
        .unwrap_or(Action::Continue)
        .raw()
}

/// The downstream connection closed: the filter's close and last look, then the filter is
/// dropped (the binding stays until Envoy deletes the context).
pub(crate) fn on_downstream_close(context_id: u32, peer: PeerType) {
    let finish = |filter: &mut dyn ConnectionContext| filter.finish(context_id, peer);
    if guarded(|| with_connection(context_id, false, finish)).is_some() {
        put_back(context_id, Slot::Closed);
    }
}
