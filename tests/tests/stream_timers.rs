//! A stream's timers (`after`) in a real Envoy, on both targets: a request held on a
//! timer, a timer set from a timer, the tick carried on by a stream still waiting when the
//! first one ends, and a stream gone before its timer.

use envoy_tests::{Envoy, Plugin, SeenRequest, Upstream, on_both_targets, serve};
use std::io::Write;
use std::time::{Duration, Instant};

fn start() -> (Upstream, Envoy) {
    serve(&Plugin::new("delay"))
}

/// Sends a request held `delay_ms` (then `again_ms`); the upstream's view and how long
/// the answer took.
fn held(envoy: &Envoy, delay_ms: u64, again_ms: Option<u64>) -> (SeenRequest, Duration) {
    let started = Instant::now();
    let mut request = envoy
        .http1()
        .get(envoy.url("/held"))
        .header("x-delay-ms", delay_ms.to_string());
    if let Some(again) = again_ms {
        request = request.header("x-delay-again-ms", again.to_string());
    }
    let response = request.send().unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 200, "{}", envoy.log());
    (response.json().unwrap(), took)
}

on_both_targets! {
    fn a_request_is_held_for_its_delay_then_goes_on() {
        let (upstream, envoy) = start();
        let (seen, took) = held(&envoy, 300, None);
        assert_eq!(seen.header("x-delayed"), Some("300"));
        assert!(took >= Duration::from_millis(300), "answered after {took:?}");
        assert!(took < Duration::from_secs(5), "answered after {took:?}");
        // A request without a delay is not held.
        let response = envoy.http2().get(envoy.url("/now")).send().unwrap();
        assert_eq!(response.status(), 200);
        let seen: SeenRequest = response.json().unwrap();
        assert_eq!(seen.header("x-delayed"), None);
        assert_eq!(upstream.requests().len(), 2);
    }

    fn a_timer_set_from_a_timer_runs_too() {
        let (_upstream, envoy) = start();
        let (seen, took) = held(&envoy, 100, Some(200));
        assert_eq!(seen.header("x-delayed"), Some("100+200"));
        assert!(took >= Duration::from_millis(300), "answered after {took:?}");
    }

    fn a_stream_still_waiting_gets_its_timer_after_the_first_stream_ends() {
        let (_upstream, envoy) = start();
        std::thread::scope(|threads| {
            // The first stream sets the first timer (on the native target, its stream
            // carries the tick), and ends long before the second's timer is due.
            let first = threads.spawn(|| held(&envoy, 100, None));
            std::thread::sleep(Duration::from_millis(30));
            let second = threads.spawn(|| held(&envoy, 700, None));
            let (first, first_took) = first.join().unwrap();
            let (second, second_took) = second.join().unwrap();
            assert_eq!(first.header("x-delayed"), Some("100"));
            assert!(first_took < Duration::from_secs(5), "{first_took:?}");
            assert_eq!(second.header("x-delayed"), Some("700"));
            assert!(second_took >= Duration::from_millis(700), "{second_took:?}");
            assert!(second_took < Duration::from_secs(5), "{second_took:?}");
        });
    }

    fn a_stream_gone_before_its_timer_runs_nothing_and_the_next_is_served() {
        let (upstream, envoy) = start();
        let mut client = std::net::TcpStream::connect(("127.0.0.1", envoy.port())).unwrap();
        client
            .write_all(b"GET /abandoned HTTP/1.1\r\nhost: test\r\nx-delay-ms: 200\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(client);
        std::thread::sleep(Duration::from_millis(400));
        let (seen, _) = held(&envoy, 50, None);
        assert_eq!(seen.path, "/held");
        let paths: Vec<String> = upstream.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/held"], "the abandoned request never reached the upstream");
        assert!(!envoy.log().contains("panicked"), "{}", envoy.log());
    }
}
