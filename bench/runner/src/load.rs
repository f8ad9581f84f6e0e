//! Load from `wrk` on its own core, and Envoy's CPU time from `/proc`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What one load run measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Envoy CPU time (user + system) per request, in microseconds.
    pub cpu_us_per_request: f64,
    pub requests_per_second: f64,
    pub p99_ms: f64,
}

/// The load: `wrk` with fixed connections for a fixed time, pinned to `core`.
pub struct Load {
    pub core: usize,
    pub connections: u32,
    pub duration: Duration,
    /// A `wrk` Lua script (the body benchmark's POST), if any.
    pub script: Option<std::path::PathBuf>,
}

impl Load {
    /// Runs the load against `url` and measures Envoy (`pid`) meanwhile.
    pub fn run(&self, url: &str, pid: u32) -> Result<Sample, String> {
        let before = cpu_ticks(pid)?;
        let mut wrk = Command::new("taskset");
        wrk.args(["-c", &self.core.to_string(), "wrk", "-t1", "--latency"])
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.duration.as_secs()))
            .args(["-H", "x-b1: alpha", "-H", "x-b2: beta"]);
        if let Some(script) = &self.script {
            wrk.arg("-s").arg(script);
        }
        let output = wrk
            .arg(url)
            .output()
            .map_err(|e| format!("cannot run wrk: {e}"))?;
        let after = cpu_ticks(pid)?;
        let report = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "wrk failed: {report}{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let requests = parse_requests(&report).ok_or_else(|| format!("no count in {report}"))?;
        if requests == 0 || report.contains("Non-2xx") {
            return Err(format!("requests failed:\n{report}"));
        }
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Ok(Sample {
            cpu_us_per_request: (after - before) as f64 / ticks_per_second * 1e6 / requests as f64,
            requests_per_second: parse_after(&report, "Requests/sec:")
                .and_then(|v| v.parse().ok())
                .unwrap_or_default(),
            p99_ms: parse_after(&report, "99%")
                .and_then(parse_duration_ms)
                .unwrap_or_default(),
        })
    }
}

/// User plus system CPU ticks of process `pid` (all its threads).
pub fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
        .map_err(|e| format!("cannot read Envoy's CPU time: {e}"))?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Ok(field(14).unwrap_or(0) + field(15).unwrap_or(0))
}

fn parse_requests(report: &str) -> Option<u64> {
    report
        .lines()
        .find(|line| line.contains("requests in"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn parse_after<'a>(report: &'a str, label: &str) -> Option<&'a str> {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
}

fn parse_duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let value: f64 = text[..split].parse().ok()?;
    match &text[split..] {
        "us" => Some(value / 1000.0),
        "ms" => Some(value),
        "s" => Some(value * 1000.0),
        "m" => Some(value * 60_000.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let report = "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 8 connections\n  \
            Latency Distribution\n     50%  320.00us\n     99%    1.25ms\n  \
            16813 requests in 1.00s, 2.1MB read\nRequests/sec:  16790.12\n";
        assert_eq!(parse_requests(report), Some(16813));
        assert_eq!(parse_after(report, "Requests/sec:"), Some("16790.12"));
        assert_eq!(
            parse_after(report, "99%").and_then(parse_duration_ms),
            Some(1.25)
        );
        assert_eq!(parse_duration_ms("320.00us"), Some(0.32));
    }
}
