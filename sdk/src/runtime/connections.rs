//! Network filters' connections: made at their first callback, called as their bytes go
//! by, dropped after their close.
//!
//! Envoy announces a connection's end once: `proxy_on_downstream_connection_close` (the
//! downstream connection is the one a network filter sits on), then `proxy_on_done`,
//! `proxy_on_log` and `proxy_on_delete`. `#[network_filter]` exports the close, so the
//! filter's last look ([`NetworkFilter::on_connection_done`]) runs there and the filter is
//! dropped then; a module that also exports `proxy_on_delete` (for a stateful HTTP filter)
//! keeps the finished connection's slot until Envoy deletes it, so that `proxy_on_log`
//! does not mistake it for a new HTTP stream.

use crate::abi::{Action, BufferType, PeerType, StreamType};
use crate::error::Error;
use crate::host;
use crate::network::{
    CloseOps, ConnectionDoneOps, ConnectionExports, DataOps, NetworkFilter, NetworkPlugin,
    NewConnectionOps,
};
use crate::runtime::dispatch::{DISPATCHER, guarded, root_of_stream};
use std::marker::PhantomData;
use std::rc::Rc;

/// A connection callback, as Envoy delivers it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NetworkEvent {
    NewConnection,
    DownstreamData { size: usize, end_of_stream: bool },
    UpstreamData { size: usize, end_of_stream: bool },
    UpstreamClose(PeerType),
}

/// One connection's filter, behind a trait object.
pub(crate) trait ConnectionContext {
    fn on_event(&mut self, context_id: u32, event: NetworkEvent) -> Action;
    /// The downstream close and the last look, once.
    fn finish(&mut self, context_id: u32, peer: PeerType);
}

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
    /// The filter of a new connection of `plugin`, if it has network filters.
    #[allow(private_interfaces)]
    fn create(plugin: Rc<P>) -> Option<Box<dyn ConnectionContext>>;
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
    fn create(plugin: Rc<P>) -> Option<Box<dyn ConnectionContext>> {
        Some(Box::new(ConnectionFilter {
            filter: plugin.create_connection(),
            finished: false,
        }))
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
    fn create(_plugin: Rc<P>) -> Option<Box<dyn ConnectionContext>> {
        None
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
/// runs; `create` makes it first if the connection has none (its first callback).
fn with_connection<R>(
    context_id: u32,
    create: bool,
    call: impl FnOnce(&mut dyn ConnectionContext) -> R,
) -> Option<R> {
    let found = DISPATCHER.with(|d| {
        let mut d = d.borrow_mut();
        d.connections.get_mut(&context_id).map(Option::take)
    });
    let mut filter = match found {
        Some(taken) => taken?,
        None if create => {
            let filter = root_of_stream()?.create_connection()?;
            DISPATCHER.with(|d| d.borrow_mut().connections.insert(context_id, None));
            filter
        }
        None => return None,
    };
    let result = call(&mut *filter);
    DISPATCHER.with(|d| {
        if let Some(slot) = d.borrow_mut().connections.get_mut(&context_id) {
            *slot = Some(filter);
        }
    });
    Some(result)
}

/// A connection callback from Envoy; creates the connection's filter at its first one.
pub(crate) fn on_network(context_id: u32, event: NetworkEvent) -> u32 {
    let run = |filter: &mut dyn ConnectionContext| filter.on_event(context_id, event);
    guarded(|| with_connection(context_id, true, run))
        .unwrap_or(Action::Continue)
        .raw()
}

/// The downstream connection closed: the filter's close and last look, then (unless Envoy
/// will delete the context itself) the filter is dropped.
pub(crate) fn on_downstream_close(context_id: u32, peer: PeerType) {
    let finish = |filter: &mut dyn ConnectionContext| filter.finish(context_id, peer);
    guarded(|| with_connection(context_id, false, finish));
    let gone = DISPATCHER.with(|d| {
        let mut d = d.borrow_mut();
        if d.deletes_exported {
            None
        } else {
            d.connections.remove(&context_id)
        }
    });
    // Dropped after the dispatcher is released: a filter's `Drop` is user code.
    drop(gone);
}
