//! Test-only filter: holds each request on a timer of its stream (`after`).
//!
//! - `x-delay-ms: N` holds the request N milliseconds, then lets it go on with
//!   `x-delayed: N`;
//! - with `x-delay-again-ms: M` too, the first timer's handler sets a second one, M
//!   milliseconds, and the request goes on with `x-delayed: N+M`.
//!
//! A request without `x-delay-ms` goes on at once. Configured `register NAME`, the plugin
//! registers queue NAME (a configuration refused where that fails: natively, where only a
//! service registers queues).
//!
//! The same module has a service, `pinger` (root id `pinger`; a Wasm singleton, natively a
//! bootstrap extension): configured `CLUSTER PATH MILLISECONDS` (plain text), it calls
//! `PATH` on `CLUSTER` every `MILLISECONDS` from its timer, first once after a millisecond,
//! counts the answers (`delay.pinger.answers`) and logs `pinger: STATUS PATH` for each.

use envoy_wasm_sdk::callout::CalloutOps;
use envoy_wasm_sdk::metrics::Counter;
use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::service::NoFilter;
use envoy_wasm_sdk::shared::SharedQueue;
use std::rc::Rc;
use std::time::Duration;

/// The plugin.
pub struct Delay;

impl Plugin for Delay {
    /// `register NAME` registers queue NAME (what a filter's plugin can do on Wasm, and not
    /// natively, where the registration refuses the configuration); nothing else.
    type Config = Option<String>;
    type Filter = DelayFilter;

    fn configure(
        config: Option<String>,
        _ctx: &mut ConfigureOps<Self>,
    ) -> Result<Self, ConfigError> {
        if let Some(name) = config.as_deref().and_then(|c| c.strip_prefix("register ")) {
            SharedQueue::register(name).map_err(|e| ConfigError::new(e.to_string()))?;
            log::info!("registered queue {name}");
        }
        Ok(Delay)
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<DelayFilter> {
        Some(DelayFilter { again: None })
    }
}

/// One per request.
pub struct DelayFilter {
    /// The second delay and what to report, once the first timer ran.
    again: Option<(u64, String)>,
}

fn millis<F>(req: &mut RequestHeadersOps<F>, name: &str) -> Result<Option<u64>, Error> {
    match req.headers().get_str(name)? {
        None => Ok(None),
        Some(value) => value.parse().map(Some).map_err(|_| {
            Error::with_status(400, format!("{name} is not a number of milliseconds"))
        }),
    }
}

impl DelayFilter {
    /// The first timer: let the request go, or hold it on a second timer.
    fn first_ran(&mut self, ops: &mut CalloutOps<'_, Self>) -> Result<(), Error> {
        match self.again.take() {
            Some((again, first)) => {
                let delayed = format!("{first}+{again}");
                ops.after(Duration::from_millis(again), move |_filter, ops| {
                    ops.request_headers().set("x-delayed", delayed.as_str())?;
                    ops.resume_request()?;
                    Ok(())
                })?;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[http_filter]
impl HttpFilter for DelayFilter {
    fn on_request_headers(&mut self, req: &mut RequestHeadersOps<Self>) -> Result<Action, Error> {
        let Some(delay) = millis(req, "x-delay-ms")? else {
            return Ok(Action::Continue);
        };
        match millis(req, "x-delay-again-ms")? {
            Some(again) => {
                self.again = Some((again, delay.to_string()));
                req.after(Duration::from_millis(delay), Self::first_ran)?;
            }
            None => {
                req.after(Duration::from_millis(delay), move |_filter, ops| {
                    ops.request_headers().set("x-delayed", delay.to_string())?;
                    ops.resume_request()?;
                    Ok(())
                })?;
            }
        }
        Ok(Action::Pause)
    }
}

/// The service: calls out on its timer and counts the answers.
pub struct Pinger {
    cluster: String,
    path: String,
    answers: Counter,
}

impl Pinger {
    fn ping(&self, ops: &mut PluginOps<Self>) {
        let request = HttpRequest::get(&self.cluster, &self.path);
        if let Err(error) = ops.http_call(request, Self::answered) {
            log::warn!("pinger: cannot call out: {error}");
        }
    }

    fn answered(&self, response: Result<HttpResponse, CalloutError>, _ops: &mut PluginOps<Self>) {
        match response {
            Ok(response) => {
                self.answers.increment(1);
                log::info!(
                    "pinger: {} {}",
                    response.status,
                    response.header("x-seen-path").unwrap_or("?")
                );
            }
            Err(failure) => log::warn!("pinger: {failure}"),
        }
    }
}

impl Plugin for Pinger {
    type Config = String;
    type Filter = NoFilter;

    fn configure(config: String, ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        let mut words = config.split_whitespace();
        let (Some(cluster), Some(path), Some(every)) = (words.next(), words.next(), words.next())
        else {
            return Err(ConfigError::new("expected `CLUSTER PATH MILLISECONDS`"));
        };
        let every: u64 = every
            .parse()
            .map_err(|_| ConfigError::new("MILLISECONDS is not a number"))?;
        ctx.once("first ping", Duration::from_millis(1), Self::ping)?;
        ctx.every("ping", Duration::from_millis(every), Self::ping)?;
        Ok(Pinger {
            cluster: cluster.to_owned(),
            path: path.to_owned(),
            answers: Counter::define("delay.pinger.answers")?,
        })
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<NoFilter> {
        Some(NoFilter)
    }
}

envoy_wasm_sdk::entry!(Delay, "pinger" => Pinger);
