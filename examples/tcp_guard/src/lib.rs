//! `tcp_guard`: a network filter in front of a TCP service (`tcp_proxy`). It counts each
//! connection's bytes both ways, refuses a connection whose first bytes match a deny rule
//! (plaintext HTTP arriving on a port meant for TLS, say: it answers nothing and closes),
//! and logs one summary line per connection when it ends.
//!
//! ```json
//! {
//!   "deny": [
//!     {"name": "plaintext_http", "prefixes": ["GET ", "POST ", "HEAD ", "PUT ", "PRI * HTTP/2"]},
//!     {"name": "ssh", "prefixes": ["SSH-"]}
//!   ]
//! }
//! ```

use envoy_wasm_sdk::metrics::{Counter, CounterVec};
use envoy_wasm_sdk::network::{
    CloseOps, ConnectionDoneOps, DataOps, NetworkFilter, NetworkPlugin, NewConnectionOps, PeerType,
    network_filter,
};
use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::service::NoFilter;
use schemars::JsonSchema;
use serde::Deserialize;
use std::rc::Rc;
use std::time::SystemTime;

/// The longest prefix a rule may have: the filter holds a connection's first bytes until
/// it can decide, and no longer than this.
pub const MAX_PREFIX: usize = 64;

/// The configuration.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Connections whose first bytes start with one of a rule's prefixes are closed (at
    /// least one rule).
    pub deny: Vec<DenyRule>,
}

/// One kind of connection to refuse.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyRule {
    /// Its name, in the log and as the `rule` label of `tcp_guard.denied`.
    pub name: String,
    /// The first bytes that give it away, as text.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// The same, as hexadecimal bytes (`"1603"`), for binary protocols.
    #[serde(default)]
    pub hex_prefixes: Vec<String>,
}

/// The plugin: the rules (prefixes as bytes) and the metrics.
pub struct TcpGuard {
    rules: Vec<(String, Vec<Vec<u8>>)>,
    connections: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    denied: CounterVec,
}

impl Plugin for TcpGuard {
    type Config = Config;
    type Filter = NoFilter;

    fn configure(config: Config, _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        if config.deny.is_empty() {
            return Err(ConfigError::field(
                "deny",
                "must list at least one rule: without one the guard lets every connection through",
            ));
        }
        let mut rules = Vec::with_capacity(config.deny.len());
        for (i, rule) in config.deny.into_iter().enumerate() {
            let at = |field: &str| format!("deny[{i}].{field}");
            if rule.name.is_empty() || rule.name.contains(';') {
                return Err(ConfigError::field(
                    at("name"),
                    "must be a non-empty name without `;`",
                ));
            }
            let mut prefixes: Vec<Vec<u8>> = Vec::new();
            for (j, text) in rule.prefixes.iter().enumerate() {
                prefixes.push(prefix(
                    text.as_bytes().to_vec(),
                    &at(&format!("prefixes[{j}]")),
                )?);
            }
            for (j, hex) in rule.hex_prefixes.iter().enumerate() {
                let field = at(&format!("hex_prefixes[{j}]"));
                let bytes = decode_hex(hex).ok_or_else(|| {
                    ConfigError::field(&field, "must be pairs of hexadecimal digits")
                })?;
                prefixes.push(prefix(bytes, &field)?);
            }
            if prefixes.is_empty() {
                return Err(ConfigError::field(
                    at("prefixes"),
                    "give at least one of prefixes or hex_prefixes",
                ));
            }
            rules.push((rule.name, prefixes));
        }
        let denied = CounterVec::define("tcp_guard.denied", &["rule"])?;
        // Each rule's counter now: the native target's Envoy defines a network filter's
        // metrics only while it loads the configuration.
        for (name, _) in &rules {
            denied.try_with(&[name])?;
        }
        Ok(TcpGuard {
            rules,
            connections: Counter::define("tcp_guard.connections")?,
            bytes_in: Counter::define("tcp_guard.bytes_in")?,
            bytes_out: Counter::define("tcp_guard.bytes_out")?,
            denied,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<NoFilter> {
        Some(NoFilter)
    }
}

fn prefix(bytes: Vec<u8>, field: &str) -> Result<Vec<u8>, ConfigError> {
    match bytes.len() {
        0 => Err(ConfigError::field(field, "must not be empty")),
        n if n > MAX_PREFIX => Err(ConfigError::field(
            field,
            format!("is {n} bytes; at most {MAX_PREFIX}"),
        )),
        _ => Ok(bytes),
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).ok())
        .collect()
}

impl NetworkPlugin for TcpGuard {
    type Connection = Guarded;

    fn create_connection(self: Rc<Self>, _connection: NewContext) -> Option<Guarded> {
        Some(Guarded {
            plugin: self,
            peer: String::new(),
            opened: None,
            decided: false,
            denied: None,
            bytes_in: 0,
            bytes_out: 0,
            first_to_finish: None,
            reset_by_client: false,
        })
    }
}

/// What a connection's first bytes say.
enum Verdict<'a> {
    Allow,
    Deny(&'a str),
    /// Too few bytes yet to tell.
    Undecided,
}

impl TcpGuard {
    fn judge(&self, first: &[u8]) -> Verdict<'_> {
        let mut undecided = false;
        for (name, prefixes) in &self.rules {
            for prefix in prefixes {
                if first.starts_with(prefix) {
                    return Verdict::Deny(name);
                }
                undecided |= first.len() < prefix.len() && prefix.starts_with(first);
            }
        }
        if undecided {
            Verdict::Undecided
        } else {
            Verdict::Allow
        }
    }
}

/// One per connection.
pub struct Guarded {
    plugin: Rc<TcpGuard>,
    peer: String,
    opened: Option<SystemTime>,
    decided: bool,
    denied: Option<String>,
    bytes_in: u64,
    bytes_out: u64,
    /// Which side half-closed first, if one did.
    first_to_finish: Option<&'static str>,
    reset_by_client: bool,
}

#[network_filter]
impl NetworkFilter for Guarded {
    fn on_new_connection(&mut self, conn: &mut NewConnectionOps) -> Result<Action, Error> {
        self.plugin.connections.increment(1);
        self.peer = conn
            .properties()
            .get_string(&["source", "address"])?
            .unwrap_or_default();
        self.opened = Some(conn.now()?);
        Ok(Action::Continue)
    }

    fn on_downstream_data(&mut self, data: &mut DataOps) -> Result<Action, Error> {
        if !self.decided {
            // The bytes held so far are the connection's first bytes.
            let first = data.data().read(..MAX_PREFIX)?;
            match self.plugin.judge(&first) {
                Verdict::Deny(rule) => {
                    log::warn!("{}: refused ({rule}): closing without a reply", self.peer);
                    self.plugin.denied.with(&[rule]).increment(1);
                    self.denied = Some(rule.to_owned());
                    self.decided = true;
                    data.connection().close_downstream()?;
                    return Ok(Action::Pause);
                }
                Verdict::Undecided if !data.end_of_stream() => return Ok(Action::Pause),
                Verdict::Undecided | Verdict::Allow => self.decided = true,
            }
        }
        if data.end_of_stream() {
            self.first_to_finish.get_or_insert("the client");
        }
        let size = data.data().len() as u64;
        self.bytes_in += size;
        count(&self.plugin.bytes_in, size)?;
        Ok(Action::Continue)
    }

    fn on_upstream_data(&mut self, data: &mut DataOps) -> Result<Action, Error> {
        if data.end_of_stream() {
            self.first_to_finish.get_or_insert("the upstream");
        }
        let size = data.data().len() as u64;
        self.bytes_out += size;
        count(&self.plugin.bytes_out, size)?;
        Ok(Action::Continue)
    }

    fn on_downstream_close(&mut self, _close: &mut CloseOps, peer: PeerType) {
        self.reset_by_client = peer == PeerType::Remote && self.first_to_finish.is_none();
    }

    fn on_connection_done(&mut self, done: &mut ConnectionDoneOps) {
        let lasted = match (self.opened, done.now()) {
            (Some(opened), Ok(now)) => now.duration_since(opened).unwrap_or_default(),
            _ => Default::default(),
        };
        let outcome = match (&self.denied, self.first_to_finish) {
            (Some(rule), _) => format!("refused ({rule})"),
            (None, _) if self.reset_by_client => "reset by the client".to_owned(),
            (None, Some(side)) => format!("closed by {side}"),
            (None, None) => "closed by the proxy".to_owned(),
        };
        log::info!(
            "connection {}: {} bytes in, {} bytes out, {} ms, {outcome}",
            self.peer,
            self.bytes_in,
            self.bytes_out,
            lasted.as_millis()
        );
    }
}

/// Adds `bytes` to `counter` (Envoy refuses to add nothing).
fn count(counter: &Counter, bytes: u64) -> Result<(), Error> {
    if bytes > 0 {
        counter.increment(bytes);
    }
    Ok(())
}

envoy_wasm_sdk::entry!(TcpGuard);
