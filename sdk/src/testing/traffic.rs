//! Traffic through the filter: HTTP streams and whole requests, TCP connections.

use super::host::ConnectionState;
use super::http::{Exchange, HttpStream, Request, Response};
use super::tcp::TcpConnection;
use super::{Emulator, PluginId};

impl Emulator {
    /// Starts an HTTP stream on the default plugin, to drive a callback at a time.
    pub fn stream(&self) -> HttpStream<'_> {
        self.stream_of(PluginId(self.default_plugin()))
    }

    /// Starts an HTTP stream on `plugin`.
    pub fn stream_of(&self, plugin: PluginId) -> HttpStream<'_> {
        let id = self.new_context_id();
        self.with_stream(id, |_| ());
        self.host
            .state
            .borrow_mut()
            .stream_roots
            .insert(id, plugin.0);
        self.create_context(id, plugin.0);
        HttpStream::new(self, id)
    }

    /// A client connects through the default plugin's network filter (its
    /// [`NetworkPlugin`](crate::network::NetworkPlugin)); drive the connection from the
    /// [`TcpConnection`].
    pub fn connect(&self) -> TcpConnection<'_> {
        self.connect_to(PluginId(self.default_plugin()))
    }

    /// A client connects through `plugin`'s network filter.
    pub fn connect_to(&self, plugin: PluginId) -> TcpConnection<'_> {
        let id = self.new_context_id();
        {
            let mut state = self.host.state.borrow_mut();
            state.connections.insert(id, ConnectionState::default());
            state.stream_roots.insert(id, plugin.0);
        }
        self.create_context(id, plugin.0);
        TcpConnection::open(self, id)
    }

    /// Sends `request` through the filter; the upstream answers `200` with no body.
    pub fn send(&self, request: Request) -> Exchange {
        self.send_with(request, Response::ok())
    }

    /// Sends `request` through the filter; if it reaches the upstream, `upstream` is the
    /// answer. The stream is then completed (`on_done`, `on_log`, `on_delete`).
    pub fn send_with(&self, request: Request, upstream: Response) -> Exchange {
        self.stream().exchange(request, upstream)
    }

    /// Sends `request` through `plugin`.
    pub fn send_to(&self, plugin: PluginId, request: Request, upstream: Response) -> Exchange {
        self.stream_of(plugin).exchange(request, upstream)
    }
}
