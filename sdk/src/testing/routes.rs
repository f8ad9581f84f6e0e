//! Routing as Envoy's route table would: the router a test sets, applied before the filter
//! sees a request and again when it clears the route cache.

use super::Emulator;
use super::host::EmulatorHost;
use std::cell::RefCell;
use std::rc::Rc;

pub(super) type Router =
    Rc<RefCell<Option<Box<dyn Fn(&[(Vec<u8>, Vec<u8>)]) -> (String, String)>>>>;

/// Applies the router to the effective stream's request headers.
pub(super) fn route(host: &EmulatorHost, router: &Router) {
    let router = router.borrow();
    let Some(router) = router.as_ref() else {
        return;
    };
    let headers = {
        let state = host.state.borrow();
        state
            .streams
            .get(&state.effective_context)
            .map(|s| s.request.headers.clone())
    };
    if let Some(headers) = headers {
        let (route_name, cluster) = router(&headers);
        let mut state = host.state.borrow_mut();
        state
            .properties
            .insert(b"xds\0route_name".to_vec(), route_name.into_bytes());
        state
            .properties
            .insert(b"xds\0cluster_name".to_vec(), cluster.into_bytes());
    }
}

impl Emulator {
    /// Routes requests as Envoy's route table would: `router` maps the request headers to
    /// (route name, cluster), which become `xds.route_name` and `xds.cluster_name` before
    /// the filter sees the request and again when it clears the route cache.
    pub fn set_router(&self, router: impl Fn(&[(Vec<u8>, Vec<u8>)]) -> (String, String) + 'static) {
        *self.router.borrow_mut() = Some(Box::new(router));
    }

    /// [`set_router`](Emulator::set_router) for a route table that looks at `:path` only.
    pub fn set_path_router(&self, router: impl Fn(&[u8]) -> (String, String) + 'static) {
        self.set_router(move |headers| {
            let path = headers.iter().find(|(k, _)| k == b":path");
            router(path.map_or(&[][..], |(_, v)| v.as_slice()))
        });
    }

    /// How many times the filter asked Envoy to route again.
    pub fn route_cache_clears(&self) -> u32 {
        self.route_cache_clears.get()
    }

    pub(crate) fn route(&self) {
        route(&self.host, &self.router);
    }
}
