//! `scripts/bench.sh --soak`: a long run through two examples, to show that nothing is lost
//! and nothing grows. Each case sends `requests` requests with `h2load` through Envoy
//! (`--concurrency 2`, so three VMs: the main thread's and one per worker) to a sink
//! upstream, in ten slices; after the 1st, 5th and 10th slice it reads each VM's linear
//! memory and Envoy's RSS. It prints one Markdown table and fails if any request failed,
//! if the upstream did not receive every request, or if linear memory grew after warm-up.

use crate::{json_body, memory::Snapshot};
use envoy_tests::{Envoy, Plugin, Upstream};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// Envoy's worker threads.
const WORKERS: u32 = 2;
const SLICES: u64 = 10;
/// The slices after which memory is read: 10 %, 50 % and 100 % of the run.
const SNAPSHOT_AFTER: [u64; 3] = [1, 5, 10];
const CONNECTIONS: u32 = 8;
/// Concurrent streams per HTTP/2 connection.
const STREAMS: u32 = 8;
const BODY_BYTES: usize = 64 * 1024;
const API_KEY: &str = "x-api-key: soak";

/// One example under load.
struct Case {
    example: &'static str,
    config: &'static str,
    /// POST a JSON body of this size (`None`: GET).
    body: Option<usize>,
}

const CASES: [Case; 2] = [
    Case {
        example: "http_headers",
        config: r#"{"request": {"require": ["x-api-key"], "remove": ["x-api-key"],
            "set": [{"name": "x-env", "value": "prod"}]},
            "response": {"set": [{"name": "x-frame-options", "value": "DENY"}]}}"#,
        body: None,
    },
    Case {
        example: "http_body",
        config: r#"{"redact": ["password", "card"], "max_body_bytes": 131072}"#,
        body: Some(BODY_BYTES),
    },
];

#[derive(Clone, Copy)]
enum Protocol {
    Http1,
    Http2,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
        }
    }
}

/// What `h2load` counted over the whole run.
#[derive(Default)]
struct Counts {
    done: u64,
    succeeded: u64,
    failed: u64,
    non_2xx: u64,
}

/// One row of the table.
struct Row {
    case: &'static str,
    protocol: Protocol,
    counts: Counts,
    upstream_received: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    snapshots: Vec<Snapshot>,
}

/// Runs every case over both protocols and prints the table; `Err` names what failed.
pub fn run(requests: u64) -> Result<(), String> {
    if Command::new("h2load").arg("--version").output().is_err() {
        return Err("h2load is missing: install Debian's nghttp2-client".into());
    }
    let requests = requests.max(SLICES);
    println!(
        "Soak: {requests} requests per row, Envoy `--concurrency {WORKERS}`, `h2load` with \
         {CONNECTIONS} connections ({STREAMS} streams each over HTTP/2), in {SLICES} slices.\n"
    );
    let mut rows = Vec::new();
    for case in &CASES {
        for protocol in [Protocol::Http1, Protocol::Http2] {
            eprintln!("soak: {} over {}", case.example, protocol.label());
            rows.push(soak(case, protocol, requests)?);
        }
    }
    println!("{}", table(&rows));
    let problems: Vec<String> = rows.iter().flat_map(problems).collect();
    if problems.is_empty() {
        println!(
            "Every request succeeded and reached the upstream; linear memory did not grow after the first 10 %."
        );
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn soak(case: &Case, protocol: Protocol, requests: u64) -> Result<Row, String> {
    let sink = Upstream::start_sink();
    let plugin = Plugin::new(case.example).config(case.config);
    let envoy = Envoy::start_with_workers(&plugin, &sink, WORKERS)
        .map_err(|exited| format!("Envoy did not start for {}:\n{}", case.example, exited.log))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let body = match case.body {
        Some(size) => {
            let path = dir.path().join("body.json");
            std::fs::write(&path, json_body(size)).map_err(|e| e.to_string())?;
            Some(path)
        }
        None => None,
    };
    check_filter(case, &envoy, &sink)?;
    let before = sink.request_count();
    let mut counts = Counts::default();
    let mut latencies_us = Vec::with_capacity(requests as usize);
    let mut snapshots = Vec::new();
    let started = std::time::Instant::now();
    for slice in 1..=SLICES {
        let share = requests / SLICES + u64::from(slice <= requests % SLICES);
        let log = dir.path().join(format!("slice{slice}.log"));
        let slice_counts = h2load(&envoy.url("/soak"), protocol, share, body.as_deref(), &log)?;
        counts.done += slice_counts.done;
        counts.succeeded += slice_counts.succeeded;
        counts.failed += slice_counts.failed;
        counts.non_2xx += slice_counts.non_2xx;
        read_latencies(&log, &mut latencies_us)?;
        if SNAPSHOT_AFTER.contains(&slice) {
            snapshots.push(Snapshot::take(envoy.pid())?);
        }
        eprint!(" {}%", slice * 100 / SLICES);
    }
    eprintln!();
    let seconds = started.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    let percentile = |q: f64| {
        latencies_us
            .get(((latencies_us.len() as f64 - 1.0) * q).round() as usize)
            .map_or(f64::NAN, |us| f64::from(*us) / 1000.0)
    };
    check_filter(case, &envoy, &sink)?;
    Ok(Row {
        case: case.example,
        protocol,
        counts,
        // Less the two checks around the run.
        upstream_received: sink.request_count() - before - 1,
        seconds,
        p50_ms: percentile(0.5),
        p99_ms: percentile(0.99),
        snapshots,
    })
}

/// One request with a real client, to see that the filter does its work before and after
/// the load: the upstream must see the filter's changes.
fn check_filter(case: &Case, envoy: &Envoy, sink: &Upstream) -> Result<(), String> {
    let client = envoy.http1();
    let request = match case.body {
        Some(size) => client
            .post(envoy.url("/soak"))
            .header("content-type", "application/json")
            .body(json_body(size)),
        None => client.get(envoy.url("/soak")),
    };
    let response = request
        .header("x-api-key", "soak")
        .send()
        .map_err(|e| format!("{}: {e}", case.example))?;
    let seen = sink
        .last_request()
        .ok_or_else(|| format!("{}: the upstream saw no request", case.example))?;
    let works = match case.body {
        Some(_) => seen.body.contains("[redacted]") && !seen.body.contains("hunter2"),
        None => {
            seen.header("x-env") == Some("prod")
                && seen.header("x-api-key").is_none()
                && response.headers().get("x-frame-options").is_some()
        }
    };
    if response.status() != 200 || !works {
        return Err(format!(
            "{} does not do its work: status {}, upstream saw {seen:?}\n{}",
            case.example,
            response.status(),
            envoy.log()
        ));
    }
    Ok(())
}

fn h2load(
    url: &str,
    protocol: Protocol,
    requests: u64,
    body: Option<&Path>,
    log: &Path,
) -> Result<Counts, String> {
    let mut command = Command::new("h2load");
    command
        .args(["-t1", "-c", &CONNECTIONS.to_string(), "-n"])
        .arg(requests.to_string())
        .args(["-H", API_KEY])
        .arg(format!("--log-file={}", log.display()));
    match protocol {
        Protocol::Http1 => command.arg("--h1"),
        Protocol::Http2 => command.args(["-m", &STREAMS.to_string()]),
    };
    if let Some(body) = body {
        command
            .arg("-d")
            .arg(body)
            .args(["-H", "content-type: application/json"]);
    }
    let output = command
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run h2load: {e}"))?;
    let report = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "h2load failed: {report}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_report(&report).ok_or_else(|| format!("cannot read h2load's report:\n{report}"))
}

/// Reads `requests: N total, N started, N done, N succeeded, N failed, …` and
/// `status codes: N 2xx, N 3xx, N 4xx, N 5xx`.
fn parse_report(report: &str) -> Option<Counts> {
    let numbers = |prefix: &str| -> Option<Vec<(u64, String)>> {
        let line = report.lines().find_map(|l| l.strip_prefix(prefix))?;
        line.split(',')
            .map(|part| {
                let mut words = part.split_whitespace();
                Some((words.next()?.parse().ok()?, words.next()?.to_owned()))
            })
            .collect()
    };
    let requests = numbers("requests: ")?;
    let statuses = numbers("status codes: ")?;
    let count = |list: &[(u64, String)], name: &str| {
        list.iter()
            .find(|(_, n)| n == name)
            .map(|(value, _)| *value)
    };
    Some(Counts {
        done: count(&requests, "done")?,
        succeeded: count(&requests, "succeeded")?,
        failed: count(&requests, "failed")? + count(&requests, "errored")?,
        non_2xx: statuses
            .iter()
            .filter(|(_, name)| name != "2xx")
            .map(|(value, _)| value)
            .sum(),
    })
}

/// Appends the third column of `h2load --log-file` (microseconds until the end of the
/// response) to `into`.
fn read_latencies(log: &Path, into: &mut Vec<u32>) -> Result<(), String> {
    let text = std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;
    for line in text.lines() {
        if let Some(us) = line.split('\t').nth(2).and_then(|v| v.parse().ok()) {
            into.push(us);
        }
    }
    Ok(())
}

fn problems(row: &Row) -> Vec<String> {
    let name = format!("{} over {}", row.case, row.protocol.label());
    let mut problems = Vec::new();
    if row.counts.failed > 0 || row.counts.non_2xx > 0 {
        problems.push(format!(
            "{name}: {} failed, {} answered other than 2xx",
            row.counts.failed, row.counts.non_2xx
        ));
    }
    if row.upstream_received != row.counts.succeeded {
        problems.push(format!(
            "{name}: {} succeeded but the upstream received {}",
            row.counts.succeeded, row.upstream_received
        ));
    }
    if let (Some(warm), Some(last)) = (row.snapshots.first(), row.snapshots.last())
        && last.linear_memory != warm.linear_memory
    {
        problems.push(format!(
            "{name}: linear memory went from {:?} to {:?} bytes after warm-up",
            warm.linear_memory, last.linear_memory
        ));
    }
    problems
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| example | protocol | requests | failed | non-2xx | upstream received | req/s | p50 ms | p99 ms | each VM's linear memory, KiB (10 % / 50 % / 100 %) | Envoy RSS, MiB (10 % / 50 % / 100 %) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for row in rows {
        let memory = row
            .snapshots
            .iter()
            .map(|s| grouped_kib(&s.linear_memory))
            .collect::<Vec<_>>()
            .join(" / ");
        let rss = row
            .snapshots
            .iter()
            .map(|s| format!("{:.0}", s.rss_bytes as f64 / 1048576.0))
            .collect::<Vec<_>>()
            .join(" / ");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {memory} | {rss} |",
            row.case,
            row.protocol.label(),
            row.counts.done,
            row.counts.failed,
            row.counts.non_2xx,
            row.upstream_received,
            row.counts.done as f64 / row.seconds,
            row.p50_ms,
            row.p99_ms,
        );
    }
    out
}

/// Sizes in KiB, largest first, equal ones counted: `2×2176, 1152, 1088`.
fn grouped_kib(sizes: &[u64]) -> String {
    let mut sizes: Vec<u64> = sizes.iter().map(|bytes| bytes / 1024).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut groups: Vec<(u64, usize)> = Vec::new();
    for size in sizes {
        match groups.last_mut() {
            Some((last, count)) if *last == size => *count += 1,
            _ => groups.push((size, 1)),
        }
    }
    groups
        .iter()
        .map(|&(size, count)| match count {
            1 => size.to_string(),
            _ => format!("{count}×{size}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_h2loads_report() {
        let report = "finished in 1.00s, 100.00 req/s, 1KB/s\n\
            requests: 100 total, 100 started, 98 done, 97 succeeded, 1 failed, 2 errored, 0 timeout\n\
            status codes: 95 2xx, 0 3xx, 2 4xx, 1 5xx\n";
        let counts = parse_report(report).unwrap();
        assert_eq!(
            (counts.done, counts.succeeded, counts.failed, counts.non_2xx),
            (98, 97, 3, 3)
        );
        assert!(parse_report("no report").is_none());
    }

    #[test]
    fn groups_equal_sizes() {
        let kib = |k: u64| k * 1024;
        assert_eq!(
            grouped_kib(&[kib(1152), kib(2176), kib(1088), kib(2176)]),
            "2×2176, 1152, 1088"
        );
    }
}
