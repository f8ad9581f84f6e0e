//! The probe's network filter: what the client's first bytes say picks what it does, and
//! every callback is logged as `tcp <callback> <details>`.
//!
//! Client bytes (downstream data) starting with:
//! - `hold`: `Pause` (held); the next chunk goes on with it;
//! - `close`: closes the connection from the downstream side;
//! - `close-up`: closes it from the upstream side;
//! - `fail`: returns an `Err`;
//! - `upper`: replaces the chunk with its upper case;
//! - `tag`: appends `+tag`.
//!
//! Upstream bytes (the echo of the above) starting with `HOLD-UP` are held once, and those
//! starting with `swap` are replaced with `swapped`. Every connection counts its bytes in
//! `probe.tcp_bytes_in` and `probe.tcp_bytes_out`.

use crate::Probe;
use envoy_wasm_sdk::metrics::Counter;
use envoy_wasm_sdk::network::{
    CloseOps, ConnectionDoneOps, DataOps, NetworkFilter, NetworkPlugin, NewConnectionOps, PeerType,
    network_filter,
};
use envoy_wasm_sdk::prelude::*;
use std::rc::Rc;

impl NetworkPlugin for Probe {
    type Connection = TcpProbe;

    fn create_connection(self: Rc<Self>, _connection: NewContext) -> Option<TcpProbe> {
        Some(TcpProbe {
            held_upstream: false,
            bytes_in: 0,
            bytes_out: 0,
        })
    }
}

/// One per connection.
pub struct TcpProbe {
    held_upstream: bool,
    bytes_in: usize,
    bytes_out: usize,
}

fn count(name: &str, bytes: usize) -> Result<(), Error> {
    if bytes > 0 {
        Counter::define(name)?.increment(bytes as u64);
    }
    Ok(())
}

#[network_filter]
impl NetworkFilter for TcpProbe {
    fn on_new_connection(&mut self, conn: &mut NewConnectionOps) -> Result<Action, Error> {
        let peer = conn.properties().source_ip()?;
        log::info!(
            "tcp new_connection from {}",
            peer.map(|ip| ip.to_string()).unwrap_or_default()
        );
        Ok(Action::Continue)
    }

    fn on_downstream_data(&mut self, data: &mut DataOps) -> Result<Action, Error> {
        let bytes = data.data().read_all()?;
        log::info!(
            "tcp downstream_data {} {:?} eos={}",
            bytes.len(),
            String::from_utf8_lossy(&bytes),
            data.end_of_stream()
        );
        self.bytes_in += bytes.len();
        if bytes.starts_with(b"hold") && !bytes.contains(&b'\n') {
            return Ok(Action::Pause);
        }
        if bytes.starts_with(b"close-up") {
            data.connection().close_upstream()?;
            return Ok(Action::Pause);
        }
        if bytes.starts_with(b"close") {
            data.connection().close_downstream()?;
            return Ok(Action::Pause);
        }
        if bytes.starts_with(b"fail") {
            return Err(Error::new("the client asked for a failure"));
        }
        if bytes.starts_with(b"upper") {
            data.data().replace(&bytes.to_ascii_uppercase())?;
        }
        if bytes.starts_with(b"tag") {
            data.data().append(b"+tag")?;
        }
        Ok(Action::Continue)
    }

    fn on_upstream_data(&mut self, data: &mut DataOps) -> Result<Action, Error> {
        let bytes = data.data().read_all()?;
        log::info!(
            "tcp upstream_data {} {:?} eos={}",
            bytes.len(),
            String::from_utf8_lossy(&bytes),
            data.end_of_stream()
        );
        self.bytes_out += bytes.len();
        if bytes.starts_with(b"HOLD-UP") && !std::mem::replace(&mut self.held_upstream, true) {
            return Ok(Action::Pause);
        }
        if bytes.starts_with(b"swap") {
            data.data().replace(b"swapped")?;
        }
        Ok(Action::Continue)
    }

    fn on_downstream_close(&mut self, _close: &mut CloseOps, peer: PeerType) {
        log::info!("tcp downstream_close {peer:?}");
    }

    fn on_upstream_close(&mut self, _close: &mut CloseOps, peer: PeerType) {
        log::info!("tcp upstream_close {peer:?}");
    }

    fn on_connection_done(&mut self, _done: &mut ConnectionDoneOps) {
        if let Err(error) = count("probe.tcp_bytes_in", self.bytes_in)
            .and_then(|()| count("probe.tcp_bytes_out", self.bytes_out))
        {
            log::error!("tcp cannot count: {error}");
        }
        log::info!("tcp done in={} out={}", self.bytes_in, self.bytes_out);
    }
}
