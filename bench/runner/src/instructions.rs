//! `bench --instructions`: the native rows as instructions per request, counted by
//! valgrind's callgrind, so that a difference of a few hundred instructions shows.
//!
//! Envoy's CPU time per request on this machine moves by more than the whole overhead of
//! a dynamic module from one run to the next (the "no filter" row alone ranges over a
//! third of its value), so the ratio of two native overheads cannot be read from it. An
//! instruction count does not move: callgrind counts every instruction Envoy's threads
//! execute (Envoy's code, the module's and the C library's; not the kernel's), and two
//! runs of the same modules agree within 0.4 % of the total (Envoy's own timers add a
//! little while the requests go).
//!
//! Each configuration gets its own Envoy (`--concurrency 1`) under callgrind, the same
//! fixture as the timed rows (`envoy/bench.yaml`). After [`WARM_UP`] requests the counters
//! are zeroed (`callgrind_control -z`), [`REQUESTS`] requests go over one keep-alive
//! connection, and the counters are dumped (`callgrind_control -d`): their total over the
//! requests is the row. Instructions are not time (a cache miss costs more than an add),
//! but they are what a filter's own code adds, without the machine's noise.

use crate::configs::{
    self, Config, HEADER_MUTATION, NATIVE_FLOOR, NO_FILTER, OURS_NATIVE, Workload,
};
use envoy_tests::{Envoy, EnvoyCommand};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Requests before counting: Envoy's and the module's first-use work (a worker's first
/// stream configures the plugin there) stays out of the row.
const WARM_UP: usize = 300;
/// Requests counted.
const REQUESTS: usize = 2_000;
/// How long Envoy may take to start under callgrind (about 20 s here, idle).
const START: Duration = Duration::from_secs(300);

/// The rows: every native configuration of each workload (those of `only`, if any), and no
/// filter.
pub fn run(workloads: &[Workload], only: &[String]) -> Result<(), String> {
    for tool in ["valgrind", "callgrind_control"] {
        if Command::new(tool)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return Err(format!(
                "{tool} is not installed (scripts/bench.sh installs it)"
            ));
        }
    }
    let envoy = EnvoyCommand::resolve()?;
    if !envoy.prefix.is_empty() {
        return Err("Envoy runs under func-e here; set ENVOY_BIN to the Envoy binary".into());
    }
    println!(
        "Instructions per request (valgrind --tool=callgrind, user space: Envoy, the module, libc), Envoy `--concurrency 1`, {REQUESTS} requests after {WARM_UP}, one keep-alive connection.\n"
    );
    for &workload in workloads.iter().filter(|w| **w != Workload::Body) {
        let rows: Vec<Config> = configs::configs(workload)
            .into_iter()
            .filter(|c| [NO_FILTER, HEADER_MUTATION, OURS_NATIVE, NATIVE_FLOOR].contains(&c.name))
            .filter(|c| c.name == NO_FILTER || only.is_empty() || only.iter().any(|o| o == c.name))
            .collect();
        let mut counted = Vec::new();
        for config in &rows {
            let per_request = count(&envoy, workload.name(), config)?;
            eprintln!(
                "{} / {}: {per_request:.0} instructions per request",
                workload.name(),
                config.name
            );
            counted.push((config.name, per_request));
        }
        println!("{}", table(workload, &counted));
    }
    Ok(())
}

/// The Markdown table of one workload: each row's count, its overhead above no filter and
/// that overhead as a multiple of the hand-written dynamic module's.
fn table(workload: Workload, rows: &[(&str, f64)]) -> String {
    let of = |name: &str| rows.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let none = of(NO_FILTER).unwrap_or(0.0);
    let floor = of(NATIVE_FLOOR).map(|v| v - none);
    let mut out = format!(
        "### {}: instructions per request\n\n| configuration | instructions/req | above no filter | ÷ hand-written dynamic module's overhead |\n|---|---:|---:|---:|\n",
        workload.name()
    );
    for (name, value) in rows {
        let above = value - none;
        let (above, ratio) = if *name == NO_FILTER {
            (String::new(), String::new())
        } else {
            let ratio = floor
                .filter(|f| *f > 0.0)
                .map_or(String::new(), |f| format!("{:.2}", above / f));
            (format!("+{above:.0}"), ratio)
        };
        out.push_str(&format!("| {name} | {value:.0} | {above} | {ratio} |\n"));
    }
    out
}

/// Instructions per request of `config`'s Envoy, started by the harness under callgrind.
fn count(envoy: &EnvoyCommand, workload: &str, config: &Config) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let output = dir.path().join("callgrind.out");
    let mut prefix = vec![
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", output.display()),
        "--dump-instr=no".to_owned(),
        "--collect-jumps=no".to_owned(),
    ];
    prefix.push(envoy.program.display().to_string());
    let launcher = EnvoyCommand {
        program: "valgrind".into(),
        prefix,
    };
    // The sink is never reached: these workloads answer from the route.
    let vars = [
        ("FILTERS", config.filters.clone()),
        ("SINK_PORT", "9".to_owned()),
    ];
    let envoy =
        Envoy::start_fixture_under(&launcher, "bench.yaml", &vars, START).map_err(|exited| {
            format!(
                "{} did not start under callgrind:\n{}",
                config.name, exited.log
            )
        })?;
    let send = |n: usize| (0..n).try_for_each(|_| crate::check_header_request(&envoy, config));
    send(WARM_UP)?;
    // Valgrind runs Envoy in its own process: the pid the harness started is Envoy's.
    let pid = envoy.pid().to_string();
    callgrind_control("-z", &pid)?;
    send(REQUESTS)?;
    callgrind_control("-d", &pid)?;
    // The dump is the newest `callgrind.out.N`; its `summary:` (or `totals:`) line is the sum.
    let dump = std::fs::read_dir(dir.path())
        .map_err(|e| e.to_string())?
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("callgrind.out.")
        })
        .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())
        .ok_or("callgrind wrote no dump")?;
    // `BENCH_CALLGRIND_DIR=DIR` keeps each row's dump there, for `callgrind_annotate`
    // (build the modules with `CARGO_PROFILE_NATIVE_STRIP=false` to see their functions).
    if let Some(keep) = std::env::var_os("BENCH_CALLGRIND_DIR") {
        let name: String = config
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let kept = std::path::Path::new(&keep).join(format!("{workload}.{name}.out"));
        std::fs::create_dir_all(&keep)
            .and_then(|()| std::fs::copy(dump.path(), &kept))
            .map_err(|e| format!("keeping the dump at {}: {e}", kept.display()))?;
    }
    let text = std::fs::read_to_string(dump.path()).map_err(|e| e.to_string())?;
    let total: u64 = text
        .lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|n| n.trim().parse().ok())
        .ok_or("no total in callgrind's dump")?;
    Ok(total as f64 / REQUESTS as f64)
}

fn callgrind_control(flag: &str, pid: &str) -> Result<(), String> {
    let status = Command::new("callgrind_control")
        .args([flag, pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("callgrind_control {flag} {pid} failed"))
    }
}
