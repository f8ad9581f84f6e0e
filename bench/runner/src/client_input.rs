//! `bench --client-input`: what hostile client input costs a filter, as a ratio to an
//! ordinary request, so that work that grows faster than the input shows.
//!
//! `key_auth`, looking for keys in the query, gets in interleaved rounds an ordinary request
//! without a key and one whose 52 KB query holds 4,400 `apikey=` values (both answered by
//! the filter, 401). Envoy's CPU time per request of each is read from `/proc`; the check
//! fails when the large query costs more than [`MAX_RATIO`] times the ordinary one (with
//! work linear in the input it costs a few times more; quadratic de-duplication of the
//! keys made it about a thousand times).

use crate::load::cpu_ticks;
use envoy_tests::{Envoy, Plugin, Upstream};
use std::time::Duration;

/// The most the large query may cost, in ordinary requests.
pub const MAX_RATIO: f64 = 25.0;
const ROUNDS: usize = 7;
const REQUESTS: usize = 500;

pub fn run() -> Result<(), String> {
    let upstream = Upstream::start();
    let config = r#"{"consumers": [{"name": "a", "credential": "k"}], "keys": ["apikey"], "in_query": true}"#;
    let envoy =
        Envoy::start(&Plugin::new("key_auth").config(config), &upstream).map_err(|e| e.log)?;
    let query: String = (0..4_400)
        .map(|i| format!("apikey={i}"))
        .collect::<Vec<_>>()
        .join("&");
    let large = format!("/items?{query}");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let cost = |path: &str| -> Result<f64, String> {
        let before = cpu_ticks(envoy.pid())?;
        for _ in 0..REQUESTS {
            let response = client
                .get(envoy.url(path))
                .send()
                .map_err(|e| format!("{:.200}", e.to_string()))?;
            if response.status() != 401 {
                return Err(format!("{path:.40}…: {} instead of 401", response.status()));
            }
        }
        let ticks = cpu_ticks(envoy.pid())? - before;
        // Clock ticks are 10 ms here (`getconf CLK_TCK` = 100).
        Ok(ticks as f64 * 10_000.0 / REQUESTS as f64)
    };
    let (mut ordinary, mut hostile) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        ordinary.push(cost("/items")?);
        hostile.push(cost(&large)?);
        eprintln!(
            "round {round}/{ROUNDS}: ordinary {:.1} µs, 4,400 keys in 52 KB {:.1} µs",
            ordinary[round - 1],
            hostile[round - 1]
        );
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (ordinary, hostile) = (median(&mut ordinary), median(&mut hostile));
    let ratio = hostile / ordinary.max(0.1);
    println!(
        "| request to `key_auth` | Envoy CPU µs/req (median of {ROUNDS} rounds of {REQUESTS}) | ÷ ordinary |\n|---|---:|---:|\n| ordinary, no key | {ordinary:.1} | 1.0 |\n| query of {} bytes with 4,400 `apikey` values | {hostile:.1} | {ratio:.1} |",
        large.len()
    );
    if ratio > MAX_RATIO {
        return Err(format!(
            "the large query costs {ratio:.1} ordinary requests (at most {MAX_RATIO}): work on client input is not linear"
        ));
    }
    Ok(())
}
