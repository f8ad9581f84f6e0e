//! The emulator, exercised through real SDK filters: Envoy's flow and host semantics.

use envoy_wasm_sdk::Action;
use envoy_wasm_sdk::testing::{Emulator, LogLevel, Request, Response};
use std::time::Duration;

mod common;
use common::configured;

/// Header operations, body buffering, trailers and replies, driven by request headers.
mod echo {
    use crate::common::Plain;
    use envoy_wasm_sdk::prelude::*;

    #[derive(Default)]
    pub struct EchoFilter {
        upper: bool,
    }

    #[http_filter]
    impl HttpFilter for EchoFilter {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let mut headers = req.headers();
            self.upper = headers.contains("x-upper")?;
            if let Some(first) = headers.get("x-multi")? {
                let all = headers.get_all("x-multi")?;
                let joined: Vec<String> = all.iter().map(|v| v.to_string()).collect();
                headers.set("x-multi-first", &first)?;
                headers.set("x-multi-all", joined.join("|"))?;
            }
            headers.remove("x-drop")?;
            headers.add("x-added", "a")?;
            headers.set("x-replaced", "new")?;
            if headers.contains("x-reply")? {
                return req.respond(LocalReply::new(403).header("x-why", "asked").body("no\n"));
            }
            if headers.contains("x-pause")? {
                return Ok(Action::Pause);
            }
            Ok(Action::Continue)
        }

        fn on_request_body(&mut self, body: &mut RequestBodyOps<Self>) -> Result<Action, Error> {
            if !self.upper {
                return Ok(Action::Continue);
            }
            if !body.end_of_stream() {
                return Ok(Action::Pause);
            }
            let text = body.body().read_all()?.to_ascii_uppercase();
            body.body().replace(&text)?;
            Ok(Action::Continue)
        }

        fn on_request_trailers(
            &mut self,
            trailers: &mut RequestTrailersOps<Self>,
        ) -> Result<Action, Error> {
            trailers.trailers().set("x-trailer-seen", "yes")?;
            Ok(Action::Continue)
        }

        fn on_response_headers(
            &mut self,
            resp: &mut ResponseHeadersOps<Self>,
        ) -> Result<Action, Error> {
            if resp.headers().contains("x-fail")? {
                return Err(Error::new("response refused"));
            }
            let status = resp.headers().status()?.unwrap_or(0);
            resp.headers().set("x-seen-status", status.to_string())?;
            Ok(Action::Continue)
        }
    }

    envoy_wasm_sdk::entry!(Plain<EchoFilter>);
}

fn echo() -> Emulator {
    configured(echo::register_plugin)
}

#[test]
fn header_operations_follow_envoy() {
    let envoy = echo();
    let exchange = envoy.send(
        Request::get("/h")
            .header("x-multi", "1")
            .header("x-multi", "2")
            .header("x-drop", "gone")
            .header("x-replaced", "old")
            .header("X-Replaced", "older"),
    );
    let upstream = exchange.upstream();
    assert_eq!(
        upstream.header("x-multi-first"),
        Some("1"),
        "get answers the first value"
    );
    assert_eq!(upstream.header("x-multi-all"), Some("1|2"));
    assert_eq!(upstream.header("x-drop"), None);
    assert_eq!(
        upstream.header_all("x-replaced"),
        ["new"],
        "set replaces every value"
    );
    assert_eq!(upstream.header_all("x-added"), ["a"]);
    assert_eq!(upstream.header(":path"), Some("/h"));
    assert_eq!(exchange.response().header("x-seen-status"), Some("200"));
}

#[test]
fn a_paused_body_is_buffered_and_replaced_whole() {
    let envoy = echo();
    let exchange = envoy.send(
        Request::new("PUT", "/b")
            .header("x-upper", "1")
            .chunks(["ab", "cd", "ef"]),
    );
    assert_eq!(exchange.upstream().body_text(), "ABCDEF");
    let body_calls: Vec<_> = exchange
        .actions()
        .iter()
        .filter(|(phase, _)| *phase == "on_request_body")
        .map(|(_, action)| *action)
        .collect();
    assert_eq!(body_calls, [Action::Pause, Action::Pause, Action::Continue]);
}

#[test]
fn unbuffered_chunks_pass_one_by_one() {
    let envoy = echo();
    let exchange = envoy.send(Request::new("PUT", "/b").chunks(["ab", "cd"]));
    assert_eq!(exchange.upstream().body_text(), "abcd");
}

#[test]
fn trailers_reach_the_filter_and_the_upstream() {
    let envoy = echo();
    let exchange = envoy.send(Request::post("/t", "x").trailer("grpc-status", "0"));
    assert_eq!(exchange.upstream().trailer("grpc-status"), Some("0"));
    assert_eq!(exchange.upstream().trailer("x-trailer-seen"), Some("yes"));
}

#[test]
fn a_local_reply_skips_the_upstream_and_runs_the_response_callbacks() {
    let envoy = echo();
    let exchange = envoy.send(Request::get("/r").header("x-reply", "1"));
    assert!(!exchange.reached_upstream());
    let reply = exchange.local_reply().expect("a reply");
    assert_eq!(
        (reply.status, reply.body.as_slice()),
        (403, b"no\n".as_slice())
    );
    let response = exchange.response();
    assert_eq!(response.status(), Some(403));
    assert_eq!(response.header("x-why"), Some("asked"));
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(
        response.header("x-seen-status"),
        Some("403"),
        "on_response_headers ran on the reply"
    );
    assert_eq!(response.body_text(), "no\n");
}

#[test]
fn an_error_in_a_response_callback_replaces_the_response() {
    let envoy = echo();
    let exchange = envoy.send_with(
        Request::get("/"),
        Response::ok().header("x-fail", "1").body("secret"),
    );
    assert!(exchange.reached_upstream());
    assert_eq!(exchange.response().status(), Some(500));
    assert_eq!(exchange.response().body_text(), "");
    assert!(envoy.logged("on_response_headers failed: response refused (answering 500)"));
}

#[test]
fn a_pause_at_the_headers_holds_the_body_back_from_the_filter() {
    let envoy = echo();
    let mut stream = envoy.stream();
    let held = stream.request_headers(
        &[(":method", "POST"), (":path", "/s"), ("x-pause", "1")],
        false,
    );
    assert_eq!(held, Action::Pause);
    assert_eq!(
        stream.request_body(b"data", true),
        Action::Pause,
        "held by the host"
    );
    assert_eq!(
        stream.actions(),
        [("on_request_headers", Action::Pause)],
        "no body callback"
    );
    assert!(stream.upstream_request().is_none());
}

#[test]
fn a_stream_driven_step_by_step() {
    let envoy = echo();
    let mut stream = envoy.stream();
    assert_eq!(
        stream.request_headers(
            &[(":method", "POST"), (":path", "/s"), ("x-upper", "1")],
            false
        ),
        Action::Continue
    );
    assert_eq!(
        stream.request_body(b"ab", false),
        Action::Pause,
        "buffering"
    );
    assert!(stream.upstream_request().is_none());
    assert_eq!(stream.request_body(b"cd", true), Action::Continue);
    let upstream = stream
        .upstream_request()
        .expect("the whole request went on");
    assert_eq!(
        (upstream.header(":path"), upstream.body_text().as_str()),
        (Some("/s"), "ABCD")
    );
    stream.response_headers(&[(":status", "204")], true);
    assert_eq!(
        stream
            .downstream_response()
            .unwrap()
            .header("x-seen-status"),
        Some("204")
    );
    stream.complete();
}

/// A plugin whose filters pause until the plugin's timer releases them, and which counts,
/// shares and queues.
mod gate {
    use envoy_wasm_sdk::metrics::{Counter, Gauge, Histogram};
    use envoy_wasm_sdk::prelude::*;
    use envoy_wasm_sdk::shared::{SharedData, SharedQueue};
    use serde::Deserialize;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    #[derive(Deserialize)]
    pub struct Config {
        pub tick_ms: u64,
        pub label: String,
    }

    pub struct Gate {
        label: String,
        waiting: RefCell<Vec<Stream>>,
        requests: Counter,
        in_flight: Gauge,
        sizes: Histogram,
        queue: SharedQueue,
    }

    impl Plugin for Gate {
        type Config = Config;
        type Filter = GateFilter;
        fn configure(config: Config, ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
            if config.label.is_empty() {
                return Err(ConfigError::field("label", "must not be empty"));
            }
            ctx.every(
                "resume",
                Duration::from_millis(config.tick_ms),
                Self::resume_waiting,
            )?;
            Ok(Gate {
                requests: Counter::define(&format!("{}.requests", config.label))?,
                in_flight: Gauge::define(&format!("{}.in_flight", config.label))?,
                sizes: Histogram::define(&format!("{}.sizes", config.label))?,
                queue: SharedQueue::register(&format!("{}.events", config.label))?,
                label: config.label,
                waiting: RefCell::new(Vec::new()),
            })
        }
        fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<GateFilter> {
            Some(GateFilter { plugin: self })
        }
        fn on_queue_ready(&self, queue: SharedQueue, _ops: &mut PluginOps<Self>) {
            while let Ok(Some(item)) = queue.dequeue() {
                log::info!("{} event: {}", self.label, String::from_utf8_lossy(&item));
            }
        }
    }

    impl Gate {
        fn resume_waiting(&self, _ops: &mut PluginOps<Self>) {
            for stream in self.waiting.borrow_mut().drain(..) {
                if let Err(error) = stream.resume_request() {
                    log::error!("cannot resume: {error}");
                }
                self.in_flight.add(-1);
            }
        }
    }

    pub struct GateFilter {
        plugin: Rc<Gate>,
    }

    #[http_filter]
    impl HttpFilter for GateFilter {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let plugin = &self.plugin;
            plugin.requests.increment(1);
            plugin.sizes.record(req.headers().pairs()?.len() as u64);
            req.headers().set("x-label", &plugin.label)?;
            let seen = SharedData::get("seen")?;
            let next = seen.as_ref().map_or(1, |(v, _)| v[0] + 1);
            if !SharedData::set("seen", &[next], seen.map(|(_, version)| version))? {
                return Err(Error::new("lost a race"));
            }
            if let Some(source) = req
                .properties()
                .get(envoy_wasm_sdk::properties::SOURCE_ADDRESS)?
            {
                req.headers().set("x-source", source)?;
            }
            if let Some(route) = req
                .properties()
                .get(envoy_wasm_sdk::properties::XDS_ROUTE_NAME)?
            {
                req.headers().set("x-route", route)?;
            }
            plugin
                .queue
                .enqueue(req.headers().path()?.unwrap_or_default().as_bytes())?;
            if let Some(reply) = envoy_wasm_sdk::foreign::call("echo_back", b"ping")? {
                req.headers().set("x-foreign", reply)?;
            }
            if req.headers().contains("x-wait")? {
                plugin.in_flight.add(1);
                plugin.waiting.borrow_mut().push(req.stream());
                return Ok(Action::Pause);
            }
            Ok(Action::Continue)
        }
    }

    envoy_wasm_sdk::entry!(Gate);
}

fn gate(label: &str) -> Emulator {
    let envoy = Emulator::new(gate::register_plugin);
    envoy.register_foreign_function("echo_back", |args| Ok([b"pong:".as_slice(), args].concat()));
    envoy
        .configure(format!(r#"{{"tick_ms": 100, "label": "{label}"}}"#))
        .expect("configures");
    envoy
}

#[test]
fn a_paused_request_is_resumed_by_the_plugin_timer() {
    let envoy = gate("g");
    let mut stream = envoy.stream();
    let action = stream.request_headers(
        &[(":method", "GET"), (":path", "/wait"), ("x-wait", "1")],
        true,
    );
    assert_eq!(action, Action::Pause);
    assert!(stream.upstream_request().is_none());
    assert_eq!(envoy.metric("g.in_flight"), Some(1));
    envoy.advance(Duration::from_millis(99));
    assert!(
        stream.upstream_request().is_none(),
        "not yet: the tick is at 100 ms"
    );
    envoy.advance(Duration::from_millis(1));
    let upstream = stream
        .upstream_request()
        .expect("the tick resumed the request");
    assert_eq!(upstream.header(":path"), Some("/wait"));
    assert_eq!(upstream.header("x-label"), Some("g"));
    assert_eq!(envoy.metric("g.in_flight"), Some(0));
    stream.response_headers(&[(":status", "200")], true);
    assert_eq!(stream.downstream_response().unwrap().status(), Some(200));
}

#[test]
fn metrics_shared_data_queues_properties_and_foreign_calls() {
    let envoy = gate("m");
    envoy.set_property(&["source", "address"], "10.1.2.3:5555");
    envoy.set_property(&["xds", "route_name"], "api_route");
    for path in ["/one", "/two"] {
        let exchange = envoy.send(Request::get(path));
        let upstream = exchange.upstream();
        assert_eq!(upstream.header("x-label"), Some("m"));
        assert_eq!(upstream.header("x-source"), Some("10.1.2.3:5555"));
        assert_eq!(upstream.header("x-route"), Some("api_route"));
        assert_eq!(upstream.header("x-foreign"), Some("pong:ping"));
    }
    assert_eq!(envoy.metric("m.requests"), Some(2));
    let sizes = envoy
        .metrics()
        .into_iter()
        .find(|m| m.name == "m.sizes")
        .unwrap();
    // `:method`, `:path`, `:authority`, `:scheme`, and the `x-forwarded-proto` and
    // `x-request-id` Envoy adds.
    assert_eq!(sizes.recorded, [6, 6], "one histogram value per request");
    assert_eq!(envoy.shared_data("seen").map(|(v, _)| v), Some(vec![2]));
    assert!(
        envoy.logged("m event: /one") && envoy.logged("m event: /two"),
        "{:?}",
        envoy.logs()
    );
    envoy.enqueue("m.events", "from another VM").unwrap();
    assert!(envoy.logged("m event: from another VM"));
    assert!(envoy.queue_items("m.events").is_empty());
    assert!(
        envoy
            .properties_read()
            .contains(&"source.address".to_string())
    );
}

#[test]
fn a_stale_compare_and_swap_loses() {
    use envoy_wasm_sdk::shared::SharedData;
    let envoy = gate("c");
    envoy.set_shared_data("k", vec![7]);
    let (_, version) = SharedData::get("k").unwrap().unwrap();
    envoy.set_shared_data("k", vec![8]); // another worker writes first
    assert!(
        !SharedData::set("k", &[9], Some(version)).unwrap(),
        "the stale write loses"
    );
    assert_eq!(envoy.shared_data("k").unwrap().0, vec![8]);
    let (_, fresh) = SharedData::get("k").unwrap().unwrap();
    assert!(SharedData::set("k", &[9], Some(fresh)).unwrap());
    assert!(
        SharedData::set("k", &[10], None).unwrap(),
        "no version: unconditional"
    );
    assert_eq!(envoy.shared_data("k").unwrap().0, vec![10]);
}

#[test]
fn configuration_errors_are_observable() {
    let envoy = Emulator::new(gate::register_plugin);
    let failed = envoy
        .configure(r#"{"tick_ms": 1, "label": ""}"#)
        .unwrap_err();
    assert!(
        failed
            .to_string()
            .contains("field `label`: must not be empty"),
        "{failed}"
    );
    let failed = envoy
        .configure(r#"{"tick_ms": "soon", "label": "x"}"#)
        .unwrap_err();
    assert!(failed.to_string().contains("field `tick_ms`"), "{failed}");
}

#[test]
fn plugins_with_different_configurations_share_a_vm() {
    let envoy = Emulator::new(gate::register_plugin);
    envoy.register_foreign_function("echo_back", |_| Ok(Vec::new()));
    let blue = envoy
        .add_plugin("blue", r#"{"tick_ms": 10, "label": "blue"}"#)
        .unwrap();
    let red = envoy
        .add_plugin("red", r#"{"tick_ms": 20, "label": "red"}"#)
        .unwrap();
    let to_blue = envoy.send_to(blue, Request::get("/"), Response::ok());
    let to_red = envoy.send_to(red, Request::get("/"), Response::ok());
    assert_eq!(to_blue.upstream().header("x-label"), Some("blue"));
    assert_eq!(to_red.upstream().header("x-label"), Some("red"));
    assert_eq!(envoy.tick_period(red), Some(Duration::from_millis(20)));
}

#[test]
fn the_host_log_level_filters_records() {
    let envoy = gate("l");
    envoy.set_log_level(LogLevel::Warn);
    envoy.send(Request::get("/quiet"));
    assert!(!envoy.logged("l event: /quiet"));
    envoy.set_log_level(LogLevel::Info);
    envoy.send(Request::get("/loud"));
    assert!(envoy.logged("l event: /loud"));
}

/// Raw callouts at the ABI: the emulator records them and checks what Envoy checks.
mod caller {
    use crate::common::Plain;
    use envoy_wasm_sdk::host::callouts;
    use envoy_wasm_sdk::prelude::*;
    use std::time::Duration;

    #[derive(Default)]
    pub struct CallerFilter;
    #[http_filter]
    impl HttpFilter for CallerFilter {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let empty: [(&str, &str); 0] = [];
            let headers = [
                (":method", "GET"),
                (":path", "/check"),
                (":authority", "auth"),
            ];
            let token = callouts::http_call(
                "auth_cluster",
                &headers,
                b"",
                &empty,
                Duration::from_secs(2),
            )?;
            req.headers().set("x-token", token.to_string())?;
            let missing = callouts::http_call(
                "auth_cluster",
                &[(":path", "/")],
                b"",
                &empty,
                Duration::from_secs(1),
            );
            req.headers()
                .set("x-missing", format!("{:?}", missing.map_err(|e| e.status)))?;
            let grpc = callouts::grpc_call(
                "grpc",
                "pkg.Svc",
                "Check",
                &empty,
                b"\x01",
                Duration::from_secs(1),
            )?;
            req.headers().set("x-grpc", grpc.to_string())?;
            Ok(Action::Continue)
        }
    }
    envoy_wasm_sdk::entry!(Plain<CallerFilter>);
}

#[test]
fn callouts_are_recorded_and_checked_like_envoy() {
    let envoy = configured(caller::register_plugin);
    let exchange = envoy.send(Request::get("/"));
    let upstream = exchange.upstream();
    assert_eq!(upstream.header("x-missing"), Some("Err(BadArgument)"));
    let calls = envoy.http_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].upstream, "auth_cluster");
    assert_eq!(calls[0].timeout_ms, 2000);
    assert_eq!(
        upstream.header("x-token"),
        Some(calls[0].token.to_string().as_str())
    );
    let grpc = envoy.grpc_calls();
    assert_eq!(
        (grpc[0].service.as_str(), grpc[0].method.as_str()),
        ("pkg.Svc", "Check")
    );
    assert_eq!(grpc[0].messages, [vec![1u8]]);
    // A raw call has no handler waiting: the response is dropped, with a debug line.
    envoy.set_log_level(LogLevel::Debug);
    envoy.fail_http_call(calls[0].token, "timeout");
    assert!(envoy.logged(&format!(
        "response to callout {}, which nobody waits for",
        calls[0].token
    )));
}

#[test]
fn emulators_on_parallel_threads_do_not_interfere() {
    let threads: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let envoy = gate(&format!("t{i}"));
                for _ in 0..50 {
                    let exchange = envoy.send(Request::get("/p"));
                    assert_eq!(
                        exchange.upstream().header("x-label"),
                        Some(format!("t{i}").as_str())
                    );
                }
                envoy.metric(&format!("t{i}.requests"))
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), Some(50));
    }
}

/// A stateless filter: a unit struct; the SDK keeps one value per plugin.
mod stateless {
    use envoy_wasm_sdk::prelude::*;
    use std::cell::Cell;
    use std::rc::Rc;

    thread_local! {
        pub static FILTERS_CREATED: Cell<u32> = const { Cell::new(0) };
    }

    pub struct Stamp;
    impl Plugin for Stamp {
        type Config = ();
        type Filter = StampFilter;
        fn configure(_: (), _: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
            Ok(Stamp)
        }
        fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<StampFilter> {
            FILTERS_CREATED.set(FILTERS_CREATED.get() + 1);
            Some(StampFilter)
        }
    }

    pub struct StampFilter;

    #[http_filter(stateless)]
    impl HttpFilter for StampFilter {
        fn on_response_headers(
            &mut self,
            resp: &mut ResponseHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let status = resp.headers().status()?.unwrap_or_default();
            resp.headers().set("x-stamped", status.to_string())?;
            Ok(Action::Continue)
        }
    }

    envoy_wasm_sdk::entry!(Stamp);
}

#[test]
fn a_stateless_filter_is_asked_for_each_stream_and_keeps_one_value() {
    let envoy = configured(stateless::register_plugin);
    assert_eq!(stateless::FILTERS_CREATED.get(), 0, "none before a stream");
    for path in ["/a", "/b", "/c"] {
        let exchange = envoy.send(Request::get(path));
        assert_eq!(exchange.response().header("x-stamped"), Some("200"));
    }
    assert_eq!(
        stateless::FILTERS_CREATED.get(),
        3,
        "the plugin may decline each stream, so it is asked for each"
    );
}

/// A filter that holds one stream (`x-hold`) and lets another (`x-release`, `x-deny`)
/// resume or answer it, then goes on with its own headers.
mod relay {
    use envoy_wasm_sdk::prelude::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[derive(Default)]
    pub struct Relay {
        held: Cell<Option<Stream>>,
    }

    impl Plugin for Relay {
        type Config = ();
        type Filter = RelayFilter;
        fn configure(_: (), _: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
            Ok(Relay::default())
        }
        fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<RelayFilter> {
            Some(RelayFilter { plugin: self })
        }
    }

    pub struct RelayFilter {
        plugin: Rc<Relay>,
    }

    #[http_filter]
    impl HttpFilter for RelayFilter {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let mut headers = req.headers();
            if headers.contains("x-hold")? {
                self.plugin.held.set(Some(req.stream()));
                return Ok(Action::Pause);
            }
            if let Some(held) = self.plugin.held.take() {
                if headers.contains("x-deny")? {
                    held.respond(LocalReply::new(429).body("denied by another\n"))?;
                } else {
                    held.resume_request()?;
                }
                // Still this stream's phase: its calls act on this stream.
                headers.set("x-relayed", "1")?;
                if headers.contains("x-reply")? {
                    return req.respond(LocalReply::new(202).header("x-own", "1"));
                }
            }
            Ok(Action::Continue)
        }
    }

    envoy_wasm_sdk::entry!(Relay);
}

#[test]
fn resuming_another_stream_leaves_the_phase_on_its_own_stream() {
    let envoy = configured(relay::register_plugin);
    let mut held = envoy.stream();
    let action = held.request_headers(&[(":path", "/held"), ("x-hold", "1")], true);
    assert_eq!(action, Action::Pause);
    let mut releaser = envoy.stream();
    let action = releaser.request_headers(&[(":path", "/releaser"), ("x-release", "1")], true);
    assert_eq!(action, Action::Continue);
    let resumed = held
        .upstream_request()
        .expect("the held request was resumed");
    assert_eq!(
        resumed.header("x-relayed"),
        None,
        "not set on the resumed stream"
    );
    let own = releaser.upstream_request().expect("the releaser goes on");
    assert_eq!(own.header("x-relayed"), Some("1"));
}

#[test]
fn answering_another_stream_leaves_the_phase_on_its_own_stream() {
    let envoy = configured(relay::register_plugin);
    let mut held = envoy.stream();
    held.request_headers(&[(":path", "/held"), ("x-hold", "1")], true);
    let mut answerer = envoy.stream();
    answerer.request_headers(
        &[(":path", "/answerer"), ("x-deny", "1"), ("x-reply", "1")],
        true,
    );
    let denied = held.local_reply().expect("the held stream was answered");
    assert_eq!(denied.status, 429);
    assert!(denied.headers.iter().all(|(name, _)| name != b"x-own"));
    let own = answerer.local_reply().expect("the answerer replied");
    assert_eq!(own.status, 202);
    assert!(own.headers.iter().any(|(name, _)| name == b"x-own"));
}
