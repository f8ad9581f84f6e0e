//! Network filter callbacks. They are exported by
//! [`network_filter`](crate::network::network_filter) in the filter crate:
//! `proxy_on_new_connection` and `proxy_on_downstream_connection_close` always (they begin
//! and end a connection's filter), the others when the filter implements them.

use crate::abi::PeerType;
use crate::runtime::connections;
use crate::runtime::contexts::NetworkEvent;

/// A client connected.
pub fn proxy_on_new_connection(context_id: u32) -> u32 {
    crate::host::context::entered(context_id, || {
        connections::on_network(context_id, NetworkEvent::NewConnection)
    })
}

/// Bytes arrived from the client (`data_size` counts what the host holds now).
pub fn proxy_on_downstream_data(context_id: u32, data_size: usize, end_of_stream: u32) -> u32 {
    crate::host::context::entered(context_id, || {
        let event = NetworkEvent::DownstreamData {
            size: data_size,
            end_of_stream: end_of_stream != 0,
        };
        connections::on_network(context_id, event)
    })
}

/// Bytes arrived from the upstream.
pub fn proxy_on_upstream_data(context_id: u32, data_size: usize, end_of_stream: u32) -> u32 {
    crate::host::context::entered(context_id, || {
        let event = NetworkEvent::UpstreamData {
            size: data_size,
            end_of_stream: end_of_stream != 0,
        };
        connections::on_network(context_id, event)
    })
}

/// The downstream connection closed.
pub fn proxy_on_downstream_connection_close(context_id: u32, peer_type: u32) {
    crate::host::context::entered(context_id, || {
        connections::on_downstream_close(context_id, PeerType::from_raw(peer_type));
    })
}

/// The upstream sent its last byte.
pub fn proxy_on_upstream_connection_close(context_id: u32, peer_type: u32) {
    crate::host::context::entered(context_id, || {
        let event = NetworkEvent::UpstreamClose(PeerType::from_raw(peer_type));
        connections::on_network(context_id, event);
    })
}
