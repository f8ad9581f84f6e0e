//! Typed shared data on the emulator: updates, another worker writing in between, and
//! the limits of the ABI (creation is not compare-and-swap).

use envoy_wasm_sdk::prelude::*;
use envoy_wasm_sdk::shared::{SharedError, SharedMap};
use envoy_wasm_sdk::testing::{Emulator, Request};
use serde::{Deserialize, Serialize};

mod common;
use common::{Plain, configured};

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Visits {
    count: u64,
}

/// Counts each client's visits (`x-client`) in shared data and answers with the count.
mod counter {
    use super::*;

    #[derive(Default)]
    pub struct CountFilter;

    #[http_filter(stateless)]
    impl HttpFilter for CountFilter {
        fn on_request_headers(
            &mut self,
            req: &mut RequestHeadersOps<Self>,
        ) -> Result<Action, Error> {
            let client = req.headers().get_str("x-client")?.unwrap_or_default();
            let visits: SharedMap<Visits> = SharedMap::new("visits.").with_max_tries(3);
            let count = visits.update(&client, |current| {
                let mut visits = current.unwrap_or_default();
                visits.count += 1;
                let count = visits.count;
                (visits, count)
            })?;
            req.headers().set("x-visits", count.to_string())?;
            Ok(Action::Continue)
        }
    }

    envoy_wasm_sdk::entry!(Plain<CountFilter>);
}

fn visit(envoy: &Emulator, client: &str) -> Option<String> {
    let exchange = envoy.send(Request::get("/").header("x-client", client));
    exchange.upstream().header("x-visits").map(str::to_owned)
}

fn counter() -> Emulator {
    configured(counter::register_plugin)
}

#[test]
fn updates_count_per_key_and_store_json() {
    let envoy = counter();
    assert_eq!(visit(&envoy, "alice").as_deref(), Some("1"));
    assert_eq!(visit(&envoy, "alice").as_deref(), Some("2"));
    assert_eq!(visit(&envoy, "bob").as_deref(), Some("1"));
    let (stored, _) = envoy.shared_data("visits.alice").expect("stored");
    assert_eq!(stored, br#"{"count":2}"#);
}

#[test]
fn another_workers_write_between_read_and_write_is_not_lost() {
    let envoy = counter();
    envoy.set_shared_data("visits.alice", r#"{"count":10}"#);
    // Another worker counts its own visits after this worker read 10: the compare-and-swap
    // write of 11 fails, the update reads 41 and writes 42.
    envoy.interfere_with_shared_data("visits.alice", r#"{"count":41}"#, 1);
    assert_eq!(visit(&envoy, "alice").as_deref(), Some("42"));
    assert_eq!(
        envoy.shared_data("visits.alice").unwrap().0,
        br#"{"count":42}"#
    );
}

#[test]
fn endless_contention_gives_up_after_the_tries_and_answers_500() {
    let envoy = counter();
    envoy.set_shared_data("visits.alice", r#"{"count":10}"#);
    envoy.interfere_with_shared_data("visits.alice", r#"{"count":50}"#, 3);
    let exchange = envoy.send(Request::get("/").header("x-client", "alice"));
    assert_eq!(exchange.response().status(), Some(500));
    assert!(envoy.logged("other workers wrote it during each of 3 tries"));
    // The next request, uncontended, counts on from the other worker's value.
    assert_eq!(visit(&envoy, "alice").as_deref(), Some("51"));
}

#[test]
fn creating_a_key_is_not_compare_and_swap_as_the_docs_say() {
    let envoy = counter();
    // Another worker creates the key between this worker's read (nothing there) and its
    // write: ABI 0.2.1 lets both writes through, and the later one wins.
    envoy.interfere_with_shared_data("visits.carol", r#"{"count":7}"#, 1);
    assert_eq!(visit(&envoy, "carol").as_deref(), Some("1"));
    assert_eq!(
        envoy.shared_data("visits.carol").unwrap().0,
        br#"{"count":1}"#
    );
}

#[test]
fn insert_if_absent_and_decode_errors() {
    let _envoy = counter();
    let visits: SharedMap<Visits> = SharedMap::new("visits.");
    assert!(
        visits
            .insert_if_absent("dan", &Visits { count: 3 })
            .unwrap()
    );
    assert!(
        !visits
            .insert_if_absent("dan", &Visits { count: 9 })
            .unwrap()
    );
    assert_eq!(visits.get("dan").unwrap(), Some(Visits { count: 3 }));
    let texts: SharedMap<String> = SharedMap::new("visits.");
    match texts.get("dan") {
        Err(SharedError::Decode { key, .. }) => assert_eq!(key, "visits.dan"),
        other => panic!("expected a decode error, got {other:?}"),
    }
}
