//! `grpc_access_log`: each HTTP stream's summary (method, path, status, duration, request
//! id) goes to a collector over one long-lived gRPC client stream
//! (`accesslog.v1.Collector/Report`, messages in [`proto`]) that the plugin keeps open in
//! each VM. The stream counts as open once the collector answers its initial metadata;
//! until then, and while it is broken, summaries wait in a bounded buffer (the oldest is
//! dropped, and counted, when it is full). A broken stream is reopened with exponential
//! backoff. A request is never held, slowed or failed by any of this.
//!
//! ```json
//! {"cluster": "collector", "buffer": 1000, "backoff_ms": 100, "max_backoff_ms": 5000}
//! ```

pub mod proto;

use envoy_wasm_sdk::grpc::{GrpcStream, GrpcStreamEvent, GrpcStreamRequest};
use envoy_wasm_sdk::metrics::Counter;
use envoy_wasm_sdk::prelude::*;
use prost::Message as _;
use schemars::JsonSchema;
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// The configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The collector's cluster (HTTP/2) in Envoy's configuration.
    pub cluster: String,
    /// How many summaries may wait while the stream is not open.
    #[serde(default = "default_buffer")]
    pub buffer: usize,
    /// The first wait before reopening a broken stream, in milliseconds; it doubles after
    /// each failure, up to `max_backoff_ms`, and starts over once a stream has stayed open
    /// that long.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// The longest wait between attempts, in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

fn default_buffer() -> usize {
    1000
}

fn default_backoff_ms() -> u64 {
    100
}

fn default_max_backoff_ms() -> u64 {
    5000
}

/// Where the stream to the collector stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// None open; one is due to be opened.
    Down,
    /// Opened; the collector has not answered yet.
    Opening(GrpcStream),
    /// The collector answered: summaries go on it.
    Open(GrpcStream),
}

/// The plugin: the link to the collector, what waits for it, and the counters.
pub struct AccessLog {
    config: Config,
    link: Cell<Link>,
    waiting: RefCell<VecDeque<Vec<u8>>>,
    backoff: Cell<Duration>,
    /// When the open stream was answered (to tell a stream that lasted from one the
    /// collector breaks at once).
    opened: Cell<Option<SystemTime>>,
    sent: Counter,
    dropped: Counter,
    reopened: Counter,
}

impl Plugin for AccessLog {
    type Config = Config;
    type Filter = Summary;

    fn configure(config: Config, ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        if config.cluster.is_empty() {
            return Err(ConfigError::field("cluster", "must name an Envoy cluster"));
        }
        if config.backoff_ms == 0 || config.max_backoff_ms < config.backoff_ms {
            return Err(ConfigError::field(
                "max_backoff_ms",
                "backoff_ms must be at least 1 and max_backoff_ms at least backoff_ms",
            ));
        }
        // Opened from a timer, once the plugin is up: the same path as every reopening.
        ctx.once(
            "open the collector stream",
            Duration::from_millis(1),
            |plugin, ops| plugin.open(ops),
        )?;
        Ok(AccessLog {
            backoff: Cell::new(Duration::from_millis(config.backoff_ms)),
            opened: Cell::new(None),
            config,
            link: Cell::new(Link::Down),
            waiting: RefCell::new(VecDeque::new()),
            sent: Counter::define("grpc_access_log.sent")?,
            dropped: Counter::define("grpc_access_log.dropped")?,
            reopened: Counter::define("grpc_access_log.reopened")?,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<Summary> {
        Some(Summary {
            plugin: self,
            started: None,
            entry: proto::Entry::default(),
        })
    }
}

impl AccessLog {
    fn open(&self, ops: &mut PluginOps<Self>) {
        let request = GrpcStreamRequest::new(&self.config.cluster, proto::SERVICE, proto::METHOD);
        match ops.grpc_stream(request, AccessLog::on_event) {
            Ok(stream) => self.link.set(Link::Opening(stream)),
            Err(error) => {
                log::error!("cannot open the collector stream: {error}");
                self.retry(ops);
            }
        }
    }

    /// Reopens after the backoff, which then doubles.
    fn retry(&self, ops: &mut PluginOps<Self>) {
        self.link.set(Link::Down);
        let wait = self.backoff.get();
        let max = Duration::from_millis(self.config.max_backoff_ms);
        self.backoff.set((wait * 2).min(max));
        let reopen = ops.once("reopen the collector stream", wait, |plugin, ops| {
            plugin.reopened.increment(1);
            plugin.open(ops);
        });
        if let Err(error) = reopen {
            log::error!("cannot schedule the collector stream's reopening: {error}");
        }
    }

    fn on_event(&self, event: GrpcStreamEvent, ops: &mut PluginOps<Self>) {
        match (event, self.link.get()) {
            (GrpcStreamEvent::InitialMetadata(_), Link::Opening(stream)) => {
                log::info!("collector stream open");
                self.link.set(Link::Open(stream));
                self.opened.set(ops.now().ok());
                let waiting: Vec<Vec<u8>> = self.waiting.borrow_mut().drain(..).collect();
                for entry in waiting {
                    self.send(entry);
                }
            }
            (GrpcStreamEvent::Closed { status, message }, _) => {
                // The backoff starts over only after a stream that lasted (as long as the
                // longest wait): a collector that breaks each stream at once is retried
                // ever less often, up to `max_backoff_ms`.
                let max = Duration::from_millis(self.config.max_backoff_ms);
                let lasted = self
                    .opened
                    .take()
                    .zip(ops.now().ok())
                    .is_some_and(|(opened, now)| {
                        now.duration_since(opened)
                            .is_ok_and(|open_for| open_for >= max)
                    });
                if lasted {
                    self.backoff
                        .set(Duration::from_millis(self.config.backoff_ms));
                }
                log::warn!(
                    "collector stream closed: {status} {message}; reopening in {} ms",
                    self.backoff.get().as_millis()
                );
                self.retry(ops);
            }
            _ => {}
        }
    }

    /// Sends one encoded summary now if the stream is open, else keeps it for later.
    fn send(&self, entry: Vec<u8>) {
        if let Link::Open(stream) = self.link.get() {
            match stream.send(&entry) {
                Ok(()) => {
                    self.sent.increment(1);
                    return;
                }
                Err(error) => log::debug!("collector stream refused a summary: {error}"),
            }
        }
        let mut waiting = self.waiting.borrow_mut();
        if waiting.len() >= self.config.buffer {
            waiting.pop_front();
            self.dropped.increment(1);
        }
        if self.config.buffer > 0 {
            waiting.push_back(entry);
        }
    }
}

/// One per HTTP stream: what its summary needs from the request.
pub struct Summary {
    plugin: Rc<AccessLog>,
    started: Option<SystemTime>,
    entry: proto::Entry,
}

#[http_filter]
impl HttpFilter for Summary {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        // Nothing here may fail the request: what cannot be read stays empty.
        let headers = req.headers();
        let text = |name: &str| headers.get_str(name).ok().flatten().unwrap_or_default();
        self.entry.method = text(":method");
        self.entry.path = text(":path");
        self.entry.request_id = text("x-request-id");
        self.started = req.now().ok();
        Ok(Action::Continue)
    }

    fn on_stream_done(&mut self, done: &mut StreamDoneOps) {
        let code = done
            .properties()
            .get(envoy_wasm_sdk::properties::RESPONSE_CODE)
            .ok()
            .flatten();
        self.entry.status = code.and_then(|c| u32::try_from(c).ok()).unwrap_or(0);
        self.entry.duration_ms = match (self.started, done.now()) {
            (Some(started), Ok(now)) => now
                .duration_since(started)
                .map_or(0, |d| d.as_millis() as u64),
            _ => 0,
        };
        self.plugin.send(self.entry.encode_to_vec());
    }
}

envoy_wasm_sdk::entry!(AccessLog);
