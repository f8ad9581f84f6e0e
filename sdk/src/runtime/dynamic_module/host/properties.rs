//! Properties: the plugin's names, headers, filter state, and Envoy's attributes (of a
//! stream, or of a connection).

use super::*;

/// How an attribute's value comes from Envoy.
enum Kind {
    Text,
    Integer,
    Flag,
}

/// The dynamic-module attribute at proxy-wasm property `path` (segments): its id, the
/// attribute's position in `envoy_dynamic_module_type_attribute_id` (Envoy's `abi.h`), and
/// how its value comes.
fn attribute_of(path: &[&[u8]]) -> Option<(u32, Kind)> {
    use Kind::{Flag, Integer, Text};
    let (id, kind) = match path {
        [b"request", b"path"] => (0, Text),
        [b"request", b"url_path"] => (1, Text),
        [b"request", b"host"] => (2, Text),
        [b"request", b"scheme"] => (3, Text),
        [b"request", b"method"] => (4, Text),
        [b"request", b"referer"] => (6, Text),
        [b"request", b"useragent"] => (7, Text),
        [b"request", b"id"] => (9, Text),
        [b"request", b"protocol"] => (10, Text),
        [b"request", b"query"] => (11, Text),
        [b"request", b"duration"] => (12, Integer),
        [b"request", b"size"] => (13, Integer),
        [b"request", b"total_size"] => (14, Integer),
        [b"response", b"code"] => (15, Integer),
        [b"response", b"code_details"] => (16, Text),
        [b"response", b"flags"] => (17, Integer),
        [b"response", b"grpc_status"] => (18, Integer),
        [b"response", b"size"] => (21, Integer),
        [b"response", b"total_size"] => (22, Integer),
        [b"response", b"backend_latency"] => (23, Integer),
        [b"source", b"address"] => (24, Text),
        [b"source", b"port"] => (25, Integer),
        [b"destination", b"address"] => (26, Text),
        [b"destination", b"port"] => (27, Integer),
        [b"connection", b"id"] => (28, Integer),
        [b"connection", b"mtls"] => (29, Flag),
        [b"connection", b"requested_server_name"] => (30, Text),
        [b"connection", b"tls_version"] => (31, Text),
        [b"connection", b"subject_peer_certificate"] => (33, Text),
        [b"connection", b"dns_san_peer_certificate"] => (35, Text),
        [b"connection", b"uri_san_peer_certificate"] => (37, Text),
        [b"connection", b"sha256_peer_certificate_digest"] => (38, Text),
        [b"connection", b"termination_details"] => (40, Text),
        [b"upstream", b"address"] => (41, Text),
        [b"upstream", b"port"] => (42, Integer),
        [b"upstream", b"tls_version"] => (43, Text),
        [b"upstream", b"local_address"] => (51, Text),
        [b"upstream", b"transport_failure_reason"] => (52, Text),
        [b"upstream", b"request_attempt_count"] => (53, Integer),
        [b"xds", b"cluster_name"] => (57, Text),
        [b"xds", b"listener_direction"] => (59, Integer),
        [b"xds", b"route_name"] => (61, Text),
        [b"xds", b"virtual_host_name"] => (63, Text),
        [b"xds", b"filter_chain_name"] => (66, Text),
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
            [b"request", b"time"] => self.start_time(),
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

    /// When the current stream started (Envoy's `startTime()`, as `request.time` is on
    /// Wasm), in Unix nanoseconds.
    fn start_time(&self) -> Option<Vec<u8>> {
        let filter = self.filter()?;
        let mut timing = TimingInfo::UNKNOWN;
        envoy!(http_get_timing_info(filter, &mut timing))?;
        let nanos = u64::try_from(timing.start_unix_nanos()?).ok()?;
        Some(nanos.to_le_bytes().to_vec())
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
