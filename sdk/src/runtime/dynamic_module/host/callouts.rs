//! HTTP callouts from a stream or a service (unary gRPC calls are in `grpc`).

use super::*;

impl HttpCallHost for NativeHost {
    fn proxy_http_call(&self, call: proxy_http_call::Args<'_>) -> u32 {
        // Envoy's dynamic modules call out from a stream or a service (a bootstrap
        // extension, whose configuration keys its callouts here); a callout carries no
        // trailers.
        let service = self.service().filter(|_| self.filter().is_none());
        let Some(filter) = self.filter().or(service.map(|p| p.envoy)) else {
            return UNIMPLEMENTED;
        };
        let Some(headers) = owned_pairs(call.headers) else {
            return BAD_ARGUMENT;
        };
        if !pairs::decode(call.trailers).is_ok_and(|t| t.is_empty()) {
            return UNIMPLEMENTED;
        }
        let mut module_headers: Vec<ModuleHeader> = headers
            .iter()
            .map(|(key, value)| ModuleHeader::of(key, value))
            .collect();
        let mut envoy_id = 0u64;
        let (cluster, body) = (ModuleBuffer::of(call.upstream), ModuleBuffer::of(call.body));
        let (list, count, timeout) = (
            module_headers.as_mut_ptr(),
            module_headers.len(),
            u64::from(call.timeout_ms),
        );
        let callout = if service.is_some() {
            callbacks().bootstrap_extension_http_callout
        } else {
            callbacks().http_filter_http_callout
        };
        let started = callout.map(|callout| {
            // SAFETY: Envoy's callback for the current stream's filter (or the service's
            // configuration), called in its hook, with locals valid for the whole call.
            unsafe { callout(filter, &mut envoy_id, cluster, list, count, body, timeout) }
        });
        match started {
            Some(dm::callout_init::SUCCESS) => {
                let token = self.next_token.get();
                self.next_token.set(token.wrapping_add(1).max(1));
                self.callouts.borrow_mut().push((filter, envoy_id, token));
                *call.return_token = token;
                OK
            }
            Some(
                dm::callout_init::CLUSTER_NOT_FOUND | dm::callout_init::MISSING_REQUIRED_HEADERS,
            ) => BAD_ARGUMENT,
            Some(_) => INTERNAL_FAILURE,
            None => UNIMPLEMENTED,
        }
    }
}
