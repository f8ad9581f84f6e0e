//! Test-only filter for the topologies Envoy and Istio build: several configurations of
//! one module in one VM, an HTTP and a network plugin side by side, stateless filters.
//! Each configuration marks what it served with its own tag, so a test sees which plugin
//! context served each stream and connection.
//!
//! `Tag` (every root id but `stateless`) takes JSON: `{"tag": "a"}`, with optionally
//! `"decline": true` (it declines every stream and connection) and `"refresh": {"cluster":
//! "upstream", "path": "/keys"}` (a timer of the plugin calls the cluster; the answer's
//! status and `x-seen-path` are kept). Its HTTP filter adds request header `x-request-tag:
//! <tag>` (the upstream sees one per filter in the chain), response header `x-tag: <tag>`,
//! `x-vm: <greeting>` when the VM's configuration (`{"greeting": ".."}`) has one, and
//! `x-refreshed: <status> <path>` once the plugin's call was answered. It logs a line in
//! each phase (`request headers <tag>`, `response headers <tag>`, `callout response <tag>`,
//! `stream done <tag> <context id>`), the stream's request id first. Its network filter
//! writes `<tag>:` before each chunk the client sends.
//!
//! A stateless filter's topologies have a module of their own (`tests/filters/stateless`):
//! a module exports one HTTP filter type.

use envoy_wasm_sdk::callout::{CalloutError, HttpRequest, HttpResponse};
use envoy_wasm_sdk::network::{DataOps, NetworkFilter, NetworkPlugin, network_filter};
use envoy_wasm_sdk::prelude::*;
use serde::Deserialize;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The VM's configuration, read when the VM starts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VmConfig {
    greeting: String,
}

thread_local! {
    /// What the VM's configuration said (per VM: each Envoy worker has its own).
    static GREETING: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// `Tag`'s configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagConfig {
    tag: String,
    #[serde(default)]
    decline: bool,
    refresh: Option<Refresh>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refresh {
    cluster: String,
    path: String,
}

/// The plugin that tags what it serves.
pub struct Tag {
    tag: String,
    decline: bool,
    refreshed: RefCell<Option<String>>,
}

impl Tag {
    fn on_refresh(&self, response: Result<HttpResponse, CalloutError>, ops: &mut PluginOps<Self>) {
        let seen = match response {
            Ok(response) => format!(
                "{} {}",
                response.status,
                response.header("x-seen-path").unwrap_or("?")
            ),
            Err(failure) => format!("failed {failure}"),
        };
        log::info!(
            "callout response {} in plugin {}: {seen}",
            self.tag,
            ops.plugin_name()
        );
        *self.refreshed.borrow_mut() = Some(seen);
    }

    /// The filter for a new `what` (`stream`, `connection`), or none when this
    /// configuration declines them (logged as `declined <what> <context id>`).
    fn serve(self: Rc<Self>, what: &str, context: NewContext) -> Option<Tagged> {
        if self.decline {
            log::info!("declined {what} {}", context.context_id());
            return None;
        }
        Some(Tagged { plugin: self })
    }
}

impl Plugin for Tag {
    type Config = TagConfig;
    type Filter = Tagged;

    fn on_vm_start(vm: &mut VmStartOps) -> Result<(), ConfigError> {
        let config: Option<VmConfig> = vm.configuration()?;
        GREETING.with(|g| *g.borrow_mut() = config.map(|c| c.greeting));
        Ok(())
    }

    fn configure(config: TagConfig, ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        if config.tag.is_empty() {
            return Err(ConfigError::field("tag", "must not be empty"));
        }
        log::info!(
            "configured tag {} as plugin {:?} (root id {:?}, context {})",
            config.tag,
            ctx.plugin_name(),
            ctx.root_id(),
            ctx.root_context_id()
        );
        if let Some(refresh) = config.refresh {
            ctx.once("refresh", Duration::from_millis(1), move |_tag, ops| {
                let request = HttpRequest::get(&refresh.cluster, &refresh.path);
                if let Err(error) = ops.http_call(request, Self::on_refresh) {
                    log::error!("cannot refresh: {error}");
                }
            })?;
        }
        Ok(Tag {
            tag: config.tag,
            decline: config.decline,
            refreshed: RefCell::new(None),
        })
    }

    fn create_filter(self: Rc<Self>, stream: NewContext) -> Option<Tagged> {
        self.serve("stream", stream)
    }
}

/// One per stream, and one per connection.
pub struct Tagged {
    plugin: Rc<Tag>,
}

impl Tagged {
    /// Logs `<phase> <tag>` and adds header `name: <tag>`.
    fn mark(
        &self,
        phase: &str,
        headers: &mut HeadersMut<'_>,
        name: &str,
    ) -> Result<(), HeaderError> {
        let tag = &self.plugin.tag;
        log::info!("{phase} {tag}");
        headers.add(name, tag)
    }
}

#[http_filter]
impl HttpFilter for Tagged {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        self.mark("request headers", &mut req.headers(), "x-request-tag")?;
        Ok(Action::Continue)
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        let mut headers = resp.headers();
        self.mark("response headers", &mut headers, "x-tag")?;
        if let Some(greeting) = GREETING.with(|g| g.borrow().clone()) {
            headers.set("x-vm", &greeting)?;
        }
        if let Some(seen) = self.plugin.refreshed.borrow().as_deref() {
            headers.set("x-refreshed", seen)?;
        }
        Ok(Action::Continue)
    }

    fn on_stream_done(&mut self, done: &mut StreamDoneOps) {
        log::info!("stream done {} {}", self.plugin.tag, done.context_id());
    }
}

impl NetworkPlugin for Tag {
    type Connection = Tagged;

    fn create_connection(self: Rc<Self>, connection: NewContext) -> Option<Tagged> {
        self.serve("connection", connection)
    }
}

#[network_filter]
impl NetworkFilter for Tagged {
    fn on_downstream_data(&mut self, data: &mut DataOps) -> Result<Action, Error> {
        let prefix = format!("{}:", self.plugin.tag);
        data.data().prepend(prefix.as_bytes())?;
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(Tag);
