//! Test-only filter: the `x-probe` request header picks what it does.
//!
//! - `repeated`: puts the first value of the request's `x-rep` (what `get` returns) in
//!   `x-rep-first`, and every value joined with `|` in `x-rep-all`;
//! - `chain`: calls the `service` cluster as `Bearer bad`, and from that response's
//!   handler calls it again as `Bearer good`; then lets the request go on with
//!   `x-chain: <first status>,<second status>` and the second response's `x-user`;
//! - `grpc-stream`: opens a gRPC stream to `grpc_service` (`probe.v1.Echo/Chat`), sends
//!   `hi` as its last message and holds the request; at the service's message it cancels
//!   the stream and tries to send again, then lets the request go on with
//!   `x-stream-events` (what the handler saw) and `x-after-cancel` (the send's outcome);
//! - `grpc-stream-whole`: the same stream (`hi` sent, then the filter's side closed), not
//!   cancelled: the request goes on at the stream's close, with `x-stream-events` listing
//!   every event;
//! - `timer`: holds the request; a timer of the stream (`after`, 20 ms) lets it go on,
//!   with `x-held: timer`;
//! - `empty`: reads empty values and reports what it got, as `some(..)` or `none`: the
//!   request's `x-empty` header (`x-empty-get`, and `x-empty-contains`), a property it set
//!   to nothing (`x-empty-property`), an empty queue item followed by `x`
//!   (`x-empty-queue`), and shared data set to nothing (`x-empty-shared`);
//! - `reply-continue`: answers 403 `denied` through the stream handle, then returns
//!   `Continue` (deny then continue, as Go plugins do);
//! - `labels`: counts the request in `probe.requests` with the labels `client` (the
//!   `x-client` header) and `outcome` (`seen`);
//! - `echo`: copies the query parameter `v` (decoded by `QueryParams`, then written as
//!   is, as a careless filter would) into the request header `x-echo` and the response
//!   header `x-echo`; `echo-response` into the response header only: a value with CR LF
//!   must not split either message.
//!
//! The same plugin offers a network filter too (see `tcp`), so one module has both.

mod tcp;

use envoy_wasm_sdk::callout::{CalloutError, HttpRequest, HttpResponse};
use envoy_wasm_sdk::grpc::{GrpcStream, GrpcStreamEvent, GrpcStreamRequest};
use envoy_wasm_sdk::metrics::CounterVec;
use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::shared::{SharedData, SharedQueue};
use std::rc::Rc;
use std::time::Duration;

/// The plugin. On Wasm each VM that configures it counts itself once, from a one-shot
/// timer, in the counter `probe.timer_vms`.
pub struct Probe {
    requests: CounterVec,
}

impl Plugin for Probe {
    type Config = ();
    type Filter = ProbeFilter;

    #[cfg_attr(not(target_arch = "wasm32"), allow(unused_variables))]
    fn configure(_config: (), ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        // A filter's plugin has no timer natively (a dynamic module's plugin lives on every
        // worker, where Envoy's ABI has none): the VM count is a Wasm fact.
        #[cfg(target_arch = "wasm32")]
        ctx.once("count this VM", Duration::from_millis(1), |_probe, _ops| {
            match envoy_wasm_sdk::metrics::Counter::define("probe.timer_vms") {
                Ok(vms) => vms.increment(1),
                Err(error) => log::error!("cannot count this VM: {error}"),
            }
        })?;
        Ok(Probe {
            requests: CounterVec::define("probe.requests", &["client", "outcome"])?,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<ProbeFilter> {
        Some(ProbeFilter {
            plugin: self,
            echo: None,
        })
    }
}

thread_local! {
    /// The `grpc-stream` probe's stream, for its handler to cancel.
    static STREAM: std::cell::Cell<Option<GrpcStream>> = const { std::cell::Cell::new(None) };
}

/// One per request.
pub struct ProbeFilter {
    plugin: Rc<Probe>,
    echo: Option<Vec<u8>>,
}

fn status(response: &Result<HttpResponse, CalloutError>) -> String {
    match response {
        Ok(response) => response.status.to_string(),
        Err(failure) => format!("failed ({failure})"),
    }
}

/// `some(value)` or `none`.
fn shown(value: Option<impl AsRef<[u8]>>) -> String {
    match value {
        Some(value) => format!("some({})", String::from_utf8_lossy(value.as_ref())),
        None => "none".to_string(),
    }
}

/// The `empty` probe.
fn read_empty_values<F>(req: &mut RequestHeadersOps<F>) -> Result<(), Error> {
    let header = req.headers().get("x-empty")?;
    let contains = req.headers().contains("x-empty")?;
    let properties = req.properties();
    properties.set(&["probe_empty"], b"")?;
    let property = properties.get(&["probe_empty"])?;
    let queue = SharedQueue::register("probe_empty_queue")?;
    queue.enqueue(b"")?;
    queue.enqueue(b"x")?;
    let items = [queue.dequeue()?, queue.dequeue()?];
    SharedData::set("probe_empty_data", b"", None)?;
    let shared = SharedData::get("probe_empty_data")?.map(|(value, _)| value);
    let mut headers = req.headers();
    headers.set("x-empty-get", shown(header))?;
    headers.set("x-empty-contains", contains.to_string())?;
    headers.set("x-empty-property", shown(property))?;
    headers.set("x-empty-queue", items.map(shown).join("|"))?;
    headers.set("x-empty-shared", shown(shared))?;
    Ok(())
}

fn check(authorization: &str) -> HttpRequest {
    HttpRequest::get("service", "/check")
        .header("authorization", authorization)
        .timeout(Duration::from_secs(2))
}

#[http_filter]
impl HttpFilter for ProbeFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        match req.headers().get_str("x-probe")?.as_deref() {
            Some("repeated") => {
                let mut headers = req.headers();
                let first = headers.get("x-rep")?.unwrap_or_default();
                let all: Vec<String> = headers
                    .get_all("x-rep")?
                    .iter()
                    .map(|value| value.to_str_lossy().into_owned())
                    .collect();
                headers.set("x-rep-first", first)?;
                headers.set("x-rep-all", all.join("|"))?;
                Ok(Action::Continue)
            }
            Some("chain") => {
                req.http_call(check("Bearer bad"), |_this, first, ops| {
                    let first = status(&first);
                    ops.http_call(check("Bearer good"), move |_this, second, ops| {
                        let mut headers = ops.request_headers();
                        headers.set("x-chain", format!("{first},{}", status(&second)))?;
                        if let Ok(response) = &second {
                            headers.set("x-user", response.header("x-user").unwrap_or("-"))?;
                        }
                        ops.resume_request()?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                Ok(Action::Pause)
            }
            Some("empty") => {
                read_empty_values(req)?;
                Ok(Action::Continue)
            }
            Some("reply-continue") => {
                // The Go-plugin pattern: send the reply, then return Continue.
                req.stream()
                    .respond(LocalReply::new(403).body("denied\n"))?;
                Ok(Action::Continue)
            }
            Some("labels") => {
                let client = req.headers().get_str("x-client")?.unwrap_or_default();
                let requests = &self.plugin.requests;
                requests.with(&[&client, "seen"]).increment(1);
                Ok(Action::Continue)
            }
            Some(mode @ ("echo" | "echo-response")) => {
                let path = req.headers().path()?.unwrap_or_default();
                let query = envoy_wasm_sdk::query::QueryParams::from_path(&path)?;
                self.echo = query.get("v").map(<[u8]>::to_vec);
                if let (Some(value), "echo") = (&self.echo, mode) {
                    req.headers().set("x-echo", value)?;
                }
                Ok(Action::Continue)
            }
            Some(mode @ ("grpc-stream" | "grpc-stream-whole")) => {
                // A stream of this request's: `hi` as the last message; in `grpc-stream`,
                // at the service's message the filter cancels it, tries to send once more,
                // and lets the request go on with what it saw; in `grpc-stream-whole` it
                // sees every event and lets the request go on at the close.
                let cancel = mode == "grpc-stream";
                let open = GrpcStreamRequest::new("grpc_service", "probe.v1.Echo", "Chat");
                let mut seen = Vec::new();
                let stream = req.grpc_stream(open, move |_probe, event, ops| {
                    let name = match &event {
                        GrpcStreamEvent::InitialMetadata(_) => "metadata".to_owned(),
                        GrpcStreamEvent::Message(bytes) => {
                            format!("message:{}", String::from_utf8_lossy(bytes))
                        }
                        GrpcStreamEvent::TrailingMetadata(_) => "trailers".to_owned(),
                        GrpcStreamEvent::Closed { status, .. } => {
                            format!("closed:{}", status.code())
                        }
                        _ => "other".to_owned(),
                    };
                    seen.push(name);
                    let mut headers = ops.request_headers();
                    headers.set("x-stream-events", seen.join(","))?;
                    if let GrpcStreamEvent::Message(_) = event
                        && cancel
                        && let Some(stream) = STREAM.with(std::cell::Cell::take)
                    {
                        stream.cancel()?;
                        let after = match stream.send(b"late") {
                            Ok(()) => "sent".to_owned(),
                            Err(error) => format!("{:?}", error.status),
                        };
                        headers.set("x-after-cancel", after)?;
                        ops.resume_request()?;
                    }
                    if let GrpcStreamEvent::Closed { .. } = event {
                        ops.resume_request()?;
                    }
                    Ok(())
                })?;
                STREAM.with(|slot| slot.set(Some(stream)));
                if cancel {
                    stream.send_last(b"hi")?;
                } else {
                    // The same request, sent the other way: a message, then the close of
                    // the filter's side.
                    stream.send(b"hi")?;
                    stream.close()?;
                }
                Ok(Action::Pause)
            }
            Some("timer") => {
                req.headers().set("x-held", "timer")?;
                req.after(Duration::from_millis(20), |_probe, ops| {
                    ops.resume_request()?;
                    Ok(())
                })?;
                Ok(Action::Pause)
            }
            _ => Ok(Action::Continue),
        }
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        if let Some(value) = &self.echo {
            resp.headers().set("x-echo", value)?;
        }
        Ok(Action::Continue)
    }
}

envoy_wasm_sdk::entry!(Probe);
