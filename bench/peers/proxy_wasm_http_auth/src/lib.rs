//! The request path of examples/http_auth on the `proxy-wasm` crate: same callout, same
//! answers (200 allows and copies headers, 401/403 becomes 403, anything else 503).
//! Configuration parsing and validation are left out on both sides of the comparison; the
//! values are fixed here.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MetricType};
use std::rc::Rc;
use std::time::Duration;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(AuthRoot(None)) });
}}

struct Settings {
    cluster: String,
    path: String,
    timeout: Duration,
    forward_headers: Vec<String>,
    copy_headers: Vec<String>,
    allowed: u32,
    denied: u32,
    failed: u32,
}

struct AuthRoot(Option<Rc<Settings>>);

impl Context for AuthRoot {}

impl RootContext for AuthRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let counter = |name| proxy_wasm::hostcalls::define_metric(MetricType::Counter, name);
        let (Ok(allowed), Ok(denied), Ok(failed)) = (
            counter("http_auth.allowed"),
            counter("http_auth.denied"),
            counter("http_auth.failed"),
        ) else {
            return false;
        };
        self.0 = Some(Rc::new(Settings {
            cluster: "auth".into(),
            path: "/check".into(),
            timeout: Duration::from_millis(500),
            forward_headers: vec!["authorization".into()],
            copy_headers: vec!["x-user".into()],
            allowed,
            denied,
            failed,
        }));
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let settings = self.0.clone()?;
        Some(Box::new(AuthFilter { settings, pending: None }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

// ---- the user code for one callout starts here ----

struct AuthFilter {
    settings: Rc<Settings>,
    /// The token of the check in flight: the answer arrives in a separate callback.
    pending: Option<u32>,
}

impl AuthFilter {
    fn unavailable(&self, why: &str) {
        let _ = proxy_wasm::hostcalls::increment_metric(self.settings.failed, 1);
        log::error!("http_auth: {why}");
        self.send_http_response(503, vec![], Some(b"auth service unavailable\n"));
    }
}

impl Context for AuthFilter {
    fn on_http_call_response(&mut self, token: u32, _headers: usize, body_size: usize, _trailers: usize) {
        if self.pending != Some(token) {
            return;
        }
        self.pending = None;
        let headers = self.get_http_call_response_headers();
        if headers.is_empty() {
            // A failed call (reset, timeout) comes without headers.
            return self.unavailable("auth service call failed");
        }
        let _ = body_size;
        let status = headers
            .iter()
            .find(|(name, _)| name == ":status")
            .and_then(|(_, value)| value.parse::<u16>().ok());
        match status {
            Some(200) => {
                for name in &self.settings.copy_headers {
                    if let Some((_, value)) = headers.iter().find(|(n, _)| n == name) {
                        self.set_http_request_header(name, Some(value));
                    }
                }
                let _ = proxy_wasm::hostcalls::increment_metric(self.settings.allowed, 1);
                self.resume_http_request();
            }
            Some(401 | 403) => {
                let _ = proxy_wasm::hostcalls::increment_metric(self.settings.denied, 1);
                self.send_http_response(403, vec![], Some(b"forbidden\n"));
            }
            other => self.unavailable(&format!("auth service answered {other:?}")),
        }
    }
}

impl HttpContext for AuthFilter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let method = self.get_http_request_header(":method").unwrap_or_default();
        let path = self.get_http_request_header(":path").unwrap_or_default();
        let settings = self.settings.clone();
        let mut headers = vec![
            (":method", "GET"),
            (":path", settings.path.as_str()),
            (":authority", settings.cluster.as_str()),
            ("x-original-method", method.as_str()),
            ("x-original-path", path.as_str()),
        ];
        let forwarded: Vec<(String, String)> = settings
            .forward_headers
            .iter()
            .filter_map(|name| Some((name.clone(), self.get_http_request_header(name)?)))
            .collect();
        headers.extend(forwarded.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        match self.dispatch_http_call(&settings.cluster, headers, None, vec![], settings.timeout) {
            Ok(token) => {
                self.pending = Some(token);
                Action::Pause
            }
            Err(status) => {
                self.unavailable(&format!("cannot call the auth service: {status:?}"));
                Action::Pause
            }
        }
    }
}
