//! Properties: the plugin's names, headers, filter state, and Envoy's attributes (of a
//! stream, or of a connection).

use super::*;

/// How an attribute's value comes from Envoy.
enum Kind {
    Text,
    Integer,
    Flag,
}

/// The dynamic-module attribute at proxy-wasm property `path` (segments).
fn attribute_of(path: &[&[u8]]) -> Option<(u32, Kind)> {
    use Kind::{Flag, Integer, Text};
    let (id, kind) = match path {
        [b"request", b"path"] => (attribute::REQUEST_PATH, Text),
        [b"request", b"url_path"] => (attribute::REQUEST_URL_PATH, Text),
        [b"request", b"host"] => (attribute::REQUEST_HOST, Text),
        [b"request", b"scheme"] => (attribute::REQUEST_SCHEME, Text),
        [b"request", b"method"] => (attribute::REQUEST_METHOD, Text),
        [b"request", b"referer"] => (attribute::REQUEST_REFERER, Text),
        [b"request", b"useragent"] => (attribute::REQUEST_USER_AGENT, Text),
        [b"request", b"id"] => (attribute::REQUEST_ID, Text),
        [b"request", b"protocol"] => (attribute::REQUEST_PROTOCOL, Text),
        [b"request", b"query"] => (attribute::REQUEST_QUERY, Text),
        [b"request", b"duration"] => (attribute::REQUEST_DURATION, Integer),
        [b"request", b"size"] => (attribute::REQUEST_SIZE, Integer),
        [b"request", b"total_size"] => (attribute::REQUEST_TOTAL_SIZE, Integer),
        [b"response", b"code"] => (attribute::RESPONSE_CODE, Integer),
        [b"response", b"code_details"] => (attribute::RESPONSE_CODE_DETAILS, Text),
        [b"response", b"flags"] => (attribute::RESPONSE_FLAGS, Integer),
        [b"response", b"grpc_status"] => (attribute::RESPONSE_GRPC_STATUS, Integer),
        [b"response", b"size"] => (attribute::RESPONSE_SIZE, Integer),
        [b"response", b"total_size"] => (attribute::RESPONSE_TOTAL_SIZE, Integer),
        [b"response", b"backend_latency"] => (attribute::RESPONSE_BACKEND_LATENCY, Integer),
        [b"source", b"address"] => (attribute::SOURCE_ADDRESS, Text),
        [b"source", b"port"] => (attribute::SOURCE_PORT, Integer),
        [b"destination", b"address"] => (attribute::DESTINATION_ADDRESS, Text),
        [b"destination", b"port"] => (attribute::DESTINATION_PORT, Integer),
        [b"connection", b"id"] => (attribute::CONNECTION_ID, Integer),
        [b"connection", b"mtls"] => (attribute::CONNECTION_MTLS, Flag),
        [b"connection", b"requested_server_name"] => {
            (attribute::CONNECTION_REQUESTED_SERVER_NAME, Text)
        }
        [b"connection", b"tls_version"] => (attribute::CONNECTION_TLS_VERSION, Text),
        [b"connection", b"subject_peer_certificate"] => {
            (attribute::CONNECTION_SUBJECT_PEER_CERTIFICATE, Text)
        }
        [b"connection", b"dns_san_peer_certificate"] => {
            (attribute::CONNECTION_DNS_SAN_PEER_CERTIFICATE, Text)
        }
        [b"connection", b"uri_san_peer_certificate"] => {
            (attribute::CONNECTION_URI_SAN_PEER_CERTIFICATE, Text)
        }
        [b"connection", b"sha256_peer_certificate_digest"] => {
            (attribute::CONNECTION_SHA256_PEER_CERTIFICATE_DIGEST, Text)
        }
        [b"connection", b"termination_details"] => {
            (attribute::CONNECTION_TERMINATION_DETAILS, Text)
        }
        [b"upstream", b"address"] => (attribute::UPSTREAM_ADDRESS, Text),
        [b"upstream", b"port"] => (attribute::UPSTREAM_PORT, Integer),
        [b"upstream", b"tls_version"] => (attribute::UPSTREAM_TLS_VERSION, Text),
        [b"upstream", b"local_address"] => (attribute::UPSTREAM_LOCAL_ADDRESS, Text),
        [b"upstream", b"transport_failure_reason"] => {
            (attribute::UPSTREAM_TRANSPORT_FAILURE_REASON, Text)
        }
        [b"upstream", b"request_attempt_count"] => {
            (attribute::UPSTREAM_REQUEST_ATTEMPT_COUNT, Integer)
        }
        [b"xds", b"cluster_name"] => (attribute::XDS_CLUSTER_NAME, Text),
        [b"xds", b"listener_direction"] => (attribute::XDS_LISTENER_DIRECTION, Integer),
        [b"xds", b"route_name"] => (attribute::XDS_ROUTE_NAME, Text),
        [b"xds", b"virtual_host_name"] => (attribute::XDS_VIRTUAL_HOST_NAME, Text),
        [b"xds", b"filter_chain_name"] => (attribute::XDS_FILTER_CHAIN_NAME, Text),
        _ => return None,
    };
    Some((id, kind))
}

impl PropertyHost for NativeHost {
    fn proxy_get_property(&self, call: proxy_get_property::Args<'_>) -> u32 {
        let path: Vec<&[u8]> = call
            .path
            .split(|byte| *byte == 0)
            .filter(|segment| !segment.is_empty())
            .collect();
        let value = match path.as_slice() {
            [b"plugin_name" | b"plugin_root_id" | b"plugin_vm_id"] => {
                self.plugin().map(|plugin| plugin.name.clone().into_bytes())
            }
            [b"request", b"headers"] => self.serialized_headers(header_map::REQUEST_HEADERS),
            [b"response", b"headers"] => self.serialized_headers(header_map::RESPONSE_HEADERS),
            [b"response", b"trailers"] => self.serialized_headers(header_map::RESPONSE_TRAILERS),
            [b"filter_state", key] => self.filter_state(key),
            // Envoy's first-byte time is not in the dynamic-module ABI: the time Envoy made
            // the stream's filter stands in (the request's headers were in by then).
            [b"request", b"time"] => {
                let started = self.scope.get().started;
                (started > 0).then(|| started.to_le_bytes().to_vec())
            }
            _ => match self.connection_property(&path) {
                Some(value) => value,
                None => attribute_of(&path).and_then(|(id, kind)| self.attribute(id, kind)),
            },
        };
        match value {
            Some(value) => {
                *call.return_value = value;
                OK
            }
            None => NOT_FOUND,
        }
    }
}

impl NativeHost {
    /// Filter state `key` of the current stream, serialized.
    fn filter_state(&self, key: &[u8]) -> Option<Vec<u8>> {
        let filter = self.filter()?;
        let mut value = EnvoyBuffer::EMPTY;
        envoy!(http_get_filter_state_typed(
            filter,
            ModuleBuffer::of(key),
            &mut value
        ))?
        // SAFETY: Envoy filled `value` in the current hook.
        .then(|| unsafe { value.bytes() }.to_vec())
    }

    /// Attribute `id` of the current stream or connection, in proxy-wasm's encoding.
    fn attribute(&self, id: u32, kind: Kind) -> Option<Vec<u8>> {
        if let Some(connection) = self.connection() {
            return read_attribute(
                kind,
                |value| envoy!(network_filter_get_attribute_string(connection, id, value)),
                |value| envoy!(network_filter_get_attribute_int(connection, id, value)),
                |value| envoy!(network_filter_get_attribute_bool(connection, id, value)),
            );
        }
        let filter = self.filter()?;
        read_attribute(
            kind,
            |value| envoy!(http_filter_get_attribute_string(filter, id, value)),
            |value| envoy!(http_filter_get_attribute_int(filter, id, value)),
            |value| envoy!(http_filter_get_attribute_bool(filter, id, value)),
        )
    }
}

/// An attribute of kind `kind` through one filter kind's getters (each answers whether
/// Envoy had the value), in proxy-wasm's encoding.
fn read_attribute(
    kind: Kind,
    text: impl FnOnce(&mut EnvoyBuffer) -> Option<bool>,
    integer: impl FnOnce(&mut u64) -> Option<bool>,
    flag: impl FnOnce(&mut bool) -> Option<bool>,
) -> Option<Vec<u8>> {
    match kind {
        Kind::Text => {
            let mut value = EnvoyBuffer::EMPTY;
            // SAFETY: Envoy filled `value` in the current hook.
            text(&mut value)?.then(|| unsafe { value.bytes() }.to_vec())
        }
        Kind::Integer => {
            let mut value = 0u64;
            integer(&mut value)?.then(|| value.to_le_bytes().to_vec())
        }
        Kind::Flag => {
            let mut value = false;
            flag(&mut value)?.then(|| vec![u8::from(value)])
        }
    }
}
