//! `rate_limit`: a token bucket per client, shared by every worker, and a singleton service
//! that counts the clients.
//!
//! ```json
//! {
//!   "capacity": 5,
//!   "refill_per_second": 1.0,
//!   "client_header": "x-client",
//!   "collector": {"vm_id": "rate_limit_collector"}
//! }
//! ```
//!
//! - The client is the value of `client_header` or, without one (or when the request lacks
//!   it), the peer's IP address (IPv4 or IPv6, without the port).
//! - Each client's bucket holds up to `capacity` tokens and regains `refill_per_second`;
//!   a request takes one. Buckets live in Envoy's shared data, so every worker draws from
//!   the same bucket: the update is compare-and-swap, retried when another worker wrote in
//!   between.
//! - A request that finds the bucket empty is answered `429` with `retry-after` (whole
//!   seconds until a token is back) and `x-ratelimit-remaining: 0`; an allowed one goes on,
//!   and its response carries `x-ratelimit-remaining`.
//! - Counters `rate_limit.requests` with labels `client` and `outcome` (`allowed`,
//!   `limited`, `error`): see `envoy.yaml` for the `stats_tags` that make them Prometheus
//!   labels.
//! - With `collector`, every decision goes to the [`Collector`] service through a queue:
//!   it runs once per Envoy (a singleton, on the main thread), keeps the set of clients,
//!   and a timer reports their number (the gauge `rate_limit.clients` and a log line).
//!
//! The same crate runs natively (an Envoy dynamic module, `envoy-native.yaml`): shared data
//! is process-wide there, so every worker still draws from one bucket, and the collector is
//! Envoy's bootstrap extension for dynamic modules (`extension_name` is its `vm_id`).
//!
//! If the buckets cannot be updated (other workers wrote during every try), the request
//! goes on (`"fail_open": false` answers it `503` instead) and counts as `error`.

use envoy_wasm_sdk::config::check_header_name;
use envoy_wasm_sdk::metrics::{Counter, CounterVec, Gauge};
use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::service::NoFilter;
use envoy_wasm_sdk::shared::{SharedError, SharedMap, SharedQueue, TypedQueue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// The filter's configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Requests a client may make at once: the bucket's size.
    pub capacity: u32,
    /// Tokens a bucket regains per second.
    pub refill_per_second: f64,
    /// The request header that names the client; without it, the peer's IP address.
    #[serde(default)]
    pub client_header: Option<String>,
    /// The collector service to report each decision to.
    #[serde(default)]
    pub collector: Option<CollectorAddress>,
    /// Let requests through when the buckets cannot be updated (else answer 503).
    #[serde(default = "yes")]
    pub fail_open: bool,
}

/// Where the collector service listens.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectorAddress {
    /// The service's `vm_id` in Envoy's configuration.
    pub vm_id: String,
    /// Its queue.
    #[serde(default = "decisions_queue")]
    pub queue: String,
}

fn yes() -> bool {
    true
}

fn decisions_queue() -> String {
    "decisions".into()
}

/// A client's bucket, as every worker sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bucket {
    /// Tokens left.
    pub tokens: f64,
    /// When `tokens` was computed, in milliseconds since the epoch (the host's clock).
    pub updated_ms: u64,
}

/// What a worker tells the collector about one request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    /// The client.
    pub client: String,
    /// Whether the request was let through.
    pub allowed: bool,
    /// The VM that decided (numbered as VMs configure the plugin).
    pub vm: u32,
    /// The decision's number in that VM, from 1.
    pub seq: u64,
}

/// The outcome of one request.
enum Verdict {
    Allowed { remaining: u64 },
    Limited { retry_after_s: u64 },
}

/// The plugin: validated settings, shared by every stream of this VM.
pub struct RateLimit {
    config: Config,
    buckets: SharedMap<Bucket>,
    requests: CounterVec,
    vm: u32,
    decided: Cell<u64>,
    /// Found on first use: the collector registers its queue when it starts.
    collector: RefCell<Option<TypedQueue<Decision>>>,
}

impl Plugin for RateLimit {
    type Config = Config;
    type Filter = Limiter;

    fn configure(config: Config, _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        if config.capacity == 0 {
            return Err(ConfigError::field("capacity", "must be at least 1"));
        }
        if !(config.refill_per_second.is_finite() && config.refill_per_second > 0.0) {
            return Err(ConfigError::field(
                "refill_per_second",
                "must be a positive number",
            ));
        }
        if let Some(header) = &config.client_header {
            check_header_name("client_header", header)?;
        }
        if let Some(address) = &config.collector {
            // The collector's queue may not be registered yet (it is found at first use),
            // but a host that refuses the call is refused here, naming the field, rather
            // than every report dropped later.
            let reachable = TypedQueue::<Decision>::resolve(&address.vm_id, &address.queue);
            if let Err(error) = reachable {
                return Err(ConfigError::field("collector", error.to_string()));
            }
        }
        // A number for this VM, for the collector's report of who sent what.
        let vm = SharedMap::<u32>::new("rate_limit.")
            .update("vms", |count| {
                let vm = count.unwrap_or(0) + 1;
                (vm, vm)
            })
            .map_err(|e| ConfigError::new(e.to_string()))?;
        Ok(RateLimit {
            buckets: SharedMap::new("rate_limit.bucket."),
            requests: CounterVec::define("rate_limit.requests", &["client", "outcome"])?,
            vm,
            decided: Cell::new(0),
            collector: RefCell::new(None),
            config,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<Limiter> {
        Some(Limiter {
            plugin: self,
            remaining: None,
        })
    }
}

impl RateLimit {
    /// Takes a token from `client`'s bucket, if there is one.
    fn take(&self, client: &str, now: SystemTime) -> Result<Verdict, SharedError> {
        let now_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        let capacity = f64::from(self.config.capacity);
        let refill = self.config.refill_per_second;
        self.buckets.update(client, |bucket| {
            let mut bucket = bucket.unwrap_or(Bucket {
                tokens: capacity,
                updated_ms: now_ms,
            });
            let elapsed_s = now_ms.saturating_sub(bucket.updated_ms) as f64 / 1000.0;
            bucket.tokens = (bucket.tokens + elapsed_s * refill).min(capacity);
            bucket.updated_ms = now_ms.max(bucket.updated_ms);
            let verdict = if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                Verdict::Allowed {
                    remaining: bucket.tokens.floor() as u64,
                }
            } else {
                Verdict::Limited {
                    retry_after_s: ((1.0 - bucket.tokens) / refill).ceil().max(1.0) as u64,
                }
            };
            (bucket, verdict)
        })
    }

    fn count(&self, client: &str, outcome: &str) {
        // Never fails the request: a metric error is logged once by the SDK.
        self.requests.with(&[client, outcome]).increment(1);
    }

    /// Sends the decision to the collector, if there is one and it has started.
    fn report(&self, client: &str, allowed: bool) {
        let Some(address) = &self.config.collector else {
            return;
        };
        let mut queue = self.collector.borrow_mut();
        if queue.is_none() {
            *queue = TypedQueue::resolve(&address.vm_id, &address.queue)
                .ok()
                .flatten();
        }
        let Some(queue) = *queue else {
            return;
        };
        self.decided.set(self.decided.get() + 1);
        let decision = Decision {
            client: client.to_owned(),
            allowed,
            vm: self.vm,
            seq: self.decided.get(),
        };
        if let Err(error) = queue.enqueue(&decision) {
            log::warn!("rate_limit: cannot report to the collector: {error}");
        }
    }
}

/// One per request: it remembers what to tell the client in the response.
pub struct Limiter {
    plugin: Rc<RateLimit>,
    remaining: Option<u64>,
}

impl Limiter {
    fn client(&self, req: &mut RequestHeadersOps<Self>) -> Result<String, Error> {
        if let Some(header) = &self.plugin.config.client_header
            && let Some(client) = req.headers().get_str(header)?
        {
            return Ok(client);
        }
        let ip = req.properties().source_ip()?;
        Ok(ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()))
    }
}

#[http_filter]
impl HttpFilter for Limiter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        let client = self.client(req)?;
        let plugin = Rc::clone(&self.plugin);
        match plugin.take(&client, req.now()?) {
            Ok(Verdict::Allowed { remaining }) => {
                plugin.count(&client, "allowed");
                plugin.report(&client, true);
                self.remaining = Some(remaining);
                Ok(Action::Continue)
            }
            Ok(Verdict::Limited { retry_after_s }) => {
                plugin.count(&client, "limited");
                plugin.report(&client, false);
                req.respond(
                    LocalReply::new(429)
                        .header("retry-after", retry_after_s.to_string())
                        .header("x-ratelimit-remaining", "0")
                        .body("rate limited\n"),
                )
            }
            Err(error) => {
                plugin.count(&client, "error");
                log::warn!("rate_limit: {error}");
                if plugin.config.fail_open {
                    Ok(Action::Continue)
                } else {
                    Err(Error::with_status(503, "rate limit unavailable"))
                }
            }
        }
    }

    fn on_response_headers(
        &mut self,
        resp: &mut ResponseHeadersOps<Self>,
    ) -> Result<Action, Error> {
        if let Some(remaining) = self.remaining {
            resp.headers()
                .set("x-ratelimit-remaining", remaining.to_string())?;
        }
        Ok(Action::Continue)
    }
}

/// The collector service's configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// How often to report the number of clients, in milliseconds.
    #[serde(default = "ten_seconds")]
    pub report_every_ms: u64,
    /// The queue workers report to.
    #[serde(default = "decisions_queue")]
    pub queue: String,
    /// The most clients it remembers (more are counted as one).
    #[serde(default = "max_clients")]
    pub max_clients: usize,
}

fn ten_seconds() -> u64 {
    10_000
}

fn max_clients() -> usize {
    100_000
}

/// The singleton service: takes every worker's decisions from its queue, keeps the set of
/// clients, and reports their number on a timer. Metrics: `rate_limit.clients` (gauge),
/// `rate_limit.collector.decisions`, `rate_limit.collector.duplicates` (counters) and
/// `rate_limit.collector.sources` (gauge: how many VMs have reported).
pub struct Collector {
    max_clients: usize,
    clients: RefCell<BTreeSet<String>>,
    /// Each reporting VM's last decision number: a queue delivers each VM's items in order,
    /// so a number not above the last is a duplicate.
    last_seq: RefCell<HashMap<u32, u64>>,
    clients_gauge: Gauge,
    decisions: Counter,
    duplicates: Counter,
    sources: Gauge,
}

impl Collector {
    fn report(&self, _ops: &mut PluginOps<Self>) {
        let clients = self.clients.borrow().len();
        self.clients_gauge.set(clients as u64);
        log::info!("rate_limit collector: {clients} clients");
    }

    fn take(&self, decision: Decision) {
        self.decisions.increment(1);
        let mut last = self.last_seq.borrow_mut();
        let seen = last.entry(decision.vm).or_insert(0);
        if decision.seq <= *seen {
            self.duplicates.increment(1);
        }
        *seen = decision.seq.max(*seen);
        self.sources.set(last.len() as u64);
        let mut clients = self.clients.borrow_mut();
        if clients.len() < self.max_clients {
            clients.insert(decision.client);
        }
    }
}

impl Plugin for Collector {
    type Config = CollectorConfig;
    type Filter = NoFilter;

    fn configure(
        config: CollectorConfig,
        ctx: &mut ConfigureOps<Self>,
    ) -> Result<Self, ConfigError> {
        if config.report_every_ms == 0 {
            return Err(ConfigError::field("report_every_ms", "must be at least 1"));
        }
        TypedQueue::<Decision>::register(&config.queue)
            .map_err(|e| ConfigError::field("queue", e.to_string()))?;
        ctx.every(
            "report clients",
            Duration::from_millis(config.report_every_ms),
            Self::report,
        )?;
        Ok(Collector {
            max_clients: config.max_clients,
            clients: RefCell::new(BTreeSet::new()),
            last_seq: RefCell::new(HashMap::new()),
            clients_gauge: Gauge::define("rate_limit.clients")?,
            decisions: Counter::define("rate_limit.collector.decisions")?,
            duplicates: Counter::define("rate_limit.collector.duplicates")?,
            sources: Gauge::define("rate_limit.collector.sources")?,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<NoFilter> {
        Some(NoFilter)
    }

    fn on_queue_ready(&self, queue: SharedQueue, _ops: &mut PluginOps<Self>) {
        let queue = TypedQueue::<Decision>::new(queue);
        loop {
            match queue.dequeue() {
                Ok(Some(decision)) => self.take(decision),
                Ok(None) => break,
                // A bad item is consumed all the same: go on with the next.
                Err(error @ SharedError::Decode { .. }) => {
                    log::warn!("rate_limit collector: {error}");
                }
                Err(error) => {
                    log::warn!("rate_limit collector: {error}");
                    break;
                }
            }
        }
    }
}

// The collector runs under `root_id: rate_limit_collector`; the filter under any other.
envoy_wasm_sdk::entry!(RateLimit, "rate_limit_collector" => Collector);
