//! Timers on the emulator: several per plugin on the one ABI tick, one-shot and periodic,
//! cancelled from their own callback, and a stream's own timer (a delay filter).

use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::testing::{Emulator, Request};
use envoy_wasm_sdk::timer::TimerId;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

mod clock {
    use super::*;

    /// Runs three timers and logs when each ran (`timer NAME at MS`, milliseconds since
    /// the epoch); `x-delay-ms` holds a request that long.
    pub struct Clock {
        fast_runs: Cell<u32>,
        fast: Cell<Option<TimerId>>,
    }

    fn ran(name: &str, ops: &PluginOps<Clock>) {
        let at = ops
            .now()
            .unwrap()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        log::info!("timer {name} at {}", at.as_millis());
    }

    impl Clock {
        fn slow(&self, ops: &mut PluginOps<Self>) {
            ran("slow", ops);
        }
    }

    impl Plugin for Clock {
        type Config = ();
        type Filter = Delay;

        fn configure(_: (), ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
            ctx.every("slow", Duration::from_millis(50), Self::slow)?;
            let fast = ctx.every("fast", Duration::from_millis(30), |clock, ops| {
                ran("fast", ops);
                clock.fast_runs.set(clock.fast_runs.get() + 1);
                // Cancelled from its own callback after its third run.
                if clock.fast_runs.get() == 3 {
                    let id = clock.fast.get().unwrap();
                    assert!(ops.cancel(id).unwrap());
                }
            })?;
            ctx.once("once", Duration::from_millis(70), |_clock, ops| {
                ran("once", ops)
            })?;
            Ok(Clock {
                fast_runs: Cell::new(0),
                fast: Cell::new(Some(fast)),
            })
        }

        fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<Delay> {
            Some(Delay)
        }
    }

    pub struct Delay;

    #[http_filter]
    impl HttpFilter for Delay {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let Some(ms) = req.headers().get_str("x-delay-ms")? else {
                return Ok(Action::Continue);
            };
            let ms: u64 = ms
                .parse()
                .map_err(|_| Error::with_status(400, "bad delay"))?;
            let started = req.now()?;
            req.after(Duration::from_millis(ms), move |_delay, ops| {
                let waited = ops.now()?.duration_since(started).unwrap_or_default();
                ops.request_headers()
                    .set("x-waited-ms", waited.as_millis().to_string())?;
                ops.resume_request()?;
                Ok(())
            })?;
            Ok(Action::Pause)
        }
    }

    envoy_wasm_sdk::entry!(Clock);
}

fn clock() -> Emulator {
    let envoy = Emulator::new(clock::register_plugin);
    envoy.configure("").expect("configures");
    envoy
}

#[test]
fn timers_run_on_their_own_periods_on_the_one_tick() {
    let envoy = Emulator::new(clock::register_plugin);
    let plugin = envoy.configure("").expect("configures");
    let start = envoy
        .now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    // The one ABI tick is set to the nearest deadline: the 30 ms timer's.
    assert_eq!(envoy.tick_period(plugin), Some(Duration::from_millis(30)));
    envoy.advance(Duration::from_millis(200));
    let runs: Vec<(String, u128)> = envoy
        .logs()
        .iter()
        .filter_map(|record| {
            let rest = record.message.strip_prefix("timer ")?;
            let (name, at) = rest.split_once(" at ")?;
            Some((name.to_owned(), at.parse::<u128>().ok()? - start))
        })
        .collect();
    let runs: Vec<(&str, u128)> = runs.iter().map(|(n, at)| (n.as_str(), *at)).collect();
    assert_eq!(
        runs,
        [
            ("fast", 30),
            ("slow", 50),
            ("fast", 60),
            ("once", 70),
            ("fast", 90),
            ("slow", 100),
            ("slow", 150),
            ("slow", 200),
        ]
    );
    // Only the 50 ms timer is left: the tick follows it.
    assert_eq!(envoy.tick_period(plugin), Some(Duration::from_millis(50)));
}

#[test]
fn a_stream_timer_resumes_its_request() {
    let envoy = clock();
    let mut stream = envoy.stream();
    let action = stream.request_headers(
        &[(":method", "GET"), (":path", "/"), ("x-delay-ms", "40")],
        true,
    );
    assert_eq!(action, Action::Pause);
    envoy.advance(Duration::from_millis(39));
    assert!(stream.upstream_request().is_none(), "not yet");
    envoy.advance(Duration::from_millis(1));
    let upstream = stream.upstream_request().expect("resumed by its timer");
    assert_eq!(upstream.header("x-waited-ms"), Some("40"));
}

#[test]
fn a_stream_gone_before_its_timer_runs_nothing() {
    let envoy = clock();
    {
        let mut stream = envoy.stream();
        stream.request_headers(
            &[(":method", "GET"), (":path", "/"), ("x-delay-ms", "40")],
            true,
        );
    } // the client went away
    envoy.advance(Duration::from_millis(100));
    let exchange = envoy.send(Request::get("/"));
    assert!(exchange.reached_upstream(), "the plugin still serves");
}
