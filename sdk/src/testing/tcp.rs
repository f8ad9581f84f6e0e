//! One TCP connection through a network filter, driven as Envoy (with `tcp_proxy` after
//! the filter) drives it.

use super::Emulator;
use crate::abi::{Action, PeerType};

/// A connection from a client through the plugin's network filter to an upstream; see
/// [`Emulator::connect`].
///
/// It follows what Envoy 1.40 does (checked by `tests/tests/tcp.rs` in a real Envoy):
/// - a `Pause` holds the bytes; the next callback of that direction sees them with what
///   came after, and they go on together when the filter returns `Continue` (or, for the
///   client's bytes, resumes);
/// - when the filter closes the connection (or returns an `Err`), nothing more goes
///   either way, and Envoy reports the close as `Local`, then the connection's end;
/// - a client's half-close reaches the filter as an empty chunk with end of stream, and
///   the upstream's likewise, followed by `on_upstream_close(Unknown)`; once both sides
///   have finished, Envoy closes the connection (`Local`).
pub struct TcpConnection<'a> {
    emulator: &'a Emulator,
    id: u32,
    to_upstream: Vec<u8>,
    to_client: Vec<u8>,
    client_finished: bool,
    /// The client's end of stream went past the filter (the upstream saw it).
    client_end_forwarded: bool,
    upstream_finished: bool,
    closed: Option<PeerType>,
    actions: Vec<(&'static str, Action)>,
}

/// Which way bytes go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// From the client, to the upstream.
    Up,
    /// From the upstream, to the client.
    Down,
}

impl<'a> TcpConnection<'a> {
    pub(crate) fn open(emulator: &'a Emulator, id: u32) -> TcpConnection<'a> {
        let mut connection = TcpConnection {
            emulator,
            id,
            to_upstream: Vec::new(),
            to_client: Vec::new(),
            client_finished: false,
            client_end_forwarded: false,
            upstream_finished: false,
            closed: None,
            actions: Vec::new(),
        };
        connection.call("on_new_connection", &[]);
        connection.settle();
        connection
    }

    /// The host's id of this connection's context.
    pub fn context_id(&self) -> u32 {
        self.id
    }

    /// Calls connection callback `name` with `args` (after the context id) if the module
    /// exports it, and records its action. A failed VM is called no more: Envoy closes
    /// the connection.
    fn call(&mut self, name: &'static str, args: &[u64]) -> Action {
        let export = format!("proxy_{name}");
        if self.emulator.vm_failure().is_some() || !self.emulator.guest_exports(&export) {
            return self.failed_or(Action::Continue);
        }
        let mut with_context = vec![u64::from(self.id)];
        with_context.extend_from_slice(args);
        let raw = self.emulator.call_into(self.id, &export, &with_context);
        let action = if raw == Action::Pause.raw() {
            Action::Pause
        } else {
            Action::Continue
        };
        self.actions.push((name, action));
        self.failed_or(action)
    }

    /// `action`, unless the VM failed: then the connection is to close.
    fn failed_or(&mut self, action: Action) -> Action {
        if self.emulator.vm_failure().is_none() {
            return action;
        }
        self.emulator
            .with_connection(self.id, |c| c.close_requested = true);
        Action::Pause
    }

    /// The client sends `bytes`; returns the filter's action.
    pub fn send(&mut self, bytes: &[u8]) -> Action {
        self.deliver(Way::Up, bytes, false)
    }

    /// The client half-closes (sends no more).
    pub fn finish(&mut self) -> Action {
        self.client_finished = true;
        self.deliver(Way::Up, b"", true)
    }

    /// The upstream sends `bytes` toward the client; returns the filter's action.
    pub fn receive(&mut self, bytes: &[u8]) -> Action {
        self.deliver(Way::Down, bytes, false)
    }

    /// The upstream half-closes: the filter sees its end of stream, then
    /// `on_upstream_close(Unknown)`.
    pub fn upstream_finishes(&mut self) -> Action {
        let action = self.deliver(Way::Down, b"", true);
        if self.closed.is_none() {
            self.call("on_upstream_connection_close", &[PeerType::Unknown as u64]);
        }
        self.upstream_finished = true;
        self.settle();
        action
    }

    /// The client resets the connection: Envoy reports the close as `Remote`.
    pub fn reset_by_client(&mut self) {
        self.close(PeerType::Remote);
    }

    /// What went past the filter toward the upstream.
    pub fn upstream_received(&self) -> &[u8] {
        &self.to_upstream
    }

    /// Whether the client's half-close went past the filter to the upstream.
    pub fn upstream_saw_end(&self) -> bool {
        self.client_end_forwarded
    }

    /// What went past the filter toward the client.
    pub fn client_received(&self) -> &[u8] {
        &self.to_client
    }

    /// How the connection closed (`Local`: Envoy closed it, on the filter's request or
    /// after both sides finished; `Remote`: the client), if it has.
    pub fn closed(&self) -> Option<PeerType> {
        self.closed
    }

    /// Each callback's action, in order.
    pub fn actions(&self) -> &[(&'static str, Action)] {
        &self.actions
    }

    fn deliver(&mut self, way: Way, bytes: &[u8], end_of_stream: bool) -> Action {
        if self.closed.is_some() {
            return Action::Continue;
        }
        let id = self.id;
        let size = self.emulator.with_connection(id, |c| {
            let held = match way {
                Way::Up => &mut c.downstream,
                Way::Down => &mut c.upstream,
            };
            held.extend_from_slice(bytes);
            held.len()
        });
        let args = [size as u64, u64::from(end_of_stream)];
        let action = match way {
            Way::Up => self.call("on_downstream_data", &args),
            Way::Down => self.call("on_upstream_data", &args),
        };
        if action == Action::Continue {
            self.forward(way);
        }
        self.settle();
        action
    }

    /// Lets what `way` holds go on.
    fn forward(&mut self, way: Way) {
        if self.closed.is_some() || self.requested_close() {
            return;
        }
        let bytes = self.emulator.with_connection(self.id, |c| match way {
            Way::Up => std::mem::take(&mut c.downstream),
            Way::Down => std::mem::take(&mut c.upstream),
        });
        match way {
            Way::Up => {
                self.to_upstream.extend_from_slice(&bytes);
                self.client_end_forwarded = self.client_finished;
            }
            Way::Down => self.to_client.extend_from_slice(&bytes),
        }
    }

    fn requested_close(&self) -> bool {
        self.emulator
            .with_connection(self.id, |c| c.close_requested)
    }

    /// After any callback: what the filter resumed goes on; a close it asked for happens
    /// (Envoy defers both until the callback returns); a connection both sides finished
    /// closes.
    fn settle(&mut self) {
        let resumed = self
            .emulator
            .with_connection(self.id, |c| std::mem::take(&mut c.resumed));
        if resumed {
            self.forward(Way::Up);
        }
        if self.requested_close() || (self.client_finished && self.upstream_finished) {
            self.close(PeerType::Local);
        }
    }

    /// The downstream connection closes: Envoy reports it, then the connection's end
    /// (`on_done`, `on_log`, `on_delete`, each if the module exports it).
    fn close(&mut self, peer: PeerType) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(peer);
        self.call("on_downstream_connection_close", &[peer as u64]);
        self.emulator.end_context(self.id);
    }
}
