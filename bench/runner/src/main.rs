//! `scripts/bench.sh`'s engine. Starts one Envoy (`--concurrency 1`, pinned to core 0) per
//! configuration, checks that each does its work, then puts the same `wrk` load (pinned to
//! core 1) on each in turn, round after round (A B C … A B C …), each run on a freshly
//! started Envoy, and prints medians as Markdown tables: Envoy CPU per request,
//! requests/second, p99 latency, `.wasm` sizes and linear memory after the load.
//!
//! Usage: `bench [--rounds N] [--seconds S] [--connections C] [--only header,multi,body]
//! [--configs 'NAME;NAME']` (`--configs` keeps the configurations named, with "no filter"
//! always: a shorter run for a question about a few of them),
//! or `bench --soak [--requests N]` for the long run in [`soak`], or `bench --client-input`
//! for what hostile client input costs ([`client_input`]), or `bench --instructions [--only
//! header,multi] [--configs 'NAME;NAME']` for the native rows as instructions per request
//! ([`instructions`]).

mod client_input;
mod configs;
mod instructions;
mod load;
mod memory;
mod soak;

use configs::{Config, FLOOR, HEADER_MUTATION, NO_FILTER, PEER, Workload};
use envoy_tests::{Envoy, Upstream};
use load::{Load, Sample};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

const ENVOY_CORE: usize = 0;
const LOAD_CORE: usize = 1;
const BODY_SIZES: [(&str, usize); 2] = [("64 KiB", 64 * 1024), ("1 MiB", 1024 * 1024)];
/// Linear memory is read once a module has served this many requests.
const MEMORY_AFTER_REQUESTS: u64 = 100_000;

struct Options {
    /// `Some(requests)`: the soak instead of the comparison.
    soak: Option<u64>,
    /// The check of what hostile client input costs ([`client_input`]).
    client_input: bool,
    /// Instructions per request instead of CPU time ([`instructions`]).
    instructions: bool,
    rounds: usize,
    seconds: u64,
    connections: u32,
    workloads: Vec<Workload>,
    /// The configurations to run (by name; "no filter" always); empty for all.
    configs: Vec<String>,
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!(
                "{message}\nusage: bench [--rounds N] [--seconds S] [--connections C] [--only header,multi,body] [--configs 'NAME;NAME']\n       bench --soak [--requests N]\n       bench --client-input\n       bench --instructions [--only header,multi] [--configs 'NAME;NAME']"
            );
            std::process::exit(2);
        }
    };
    let result = match options.soak {
        Some(requests) => soak::run(requests),
        None if options.client_input => client_input::run(),
        None if options.instructions => instructions::run(&options.workloads, &options.configs),
        None => run(&options),
    };
    if let Err(message) = result {
        eprintln!("bench: {message}");
        std::process::exit(1);
    }
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        soak: None,
        client_input: false,
        instructions: false,
        rounds: 15,
        seconds: 2,
        connections: 8,
        workloads: vec![Workload::Header, Workload::Multi, Workload::Body],
        configs: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    let mut requests = 1_000_000;
    let mut soak = false;
    while let Some(flag) = args.next() {
        if flag == "--soak" {
            soak = true;
            continue;
        }
        if flag == "--client-input" {
            options.client_input = true;
            continue;
        }
        if flag == "--instructions" {
            options.instructions = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--rounds" => options.rounds = number()?.max(1) as usize,
            "--seconds" => options.seconds = number()?.max(1),
            "--connections" => options.connections = number()?.max(1) as u32,
            "--requests" => requests = number()?,
            "--configs" => {
                options.configs = value
                    .split(';')
                    .map(|name| name.trim().to_owned())
                    .collect();
            }
            "--only" => {
                options.workloads = value
                    .split(',')
                    .map(|name| match name {
                        "header" => Ok(Workload::Header),
                        "multi" => Ok(Workload::Multi),
                        "body" => Ok(Workload::Body),
                        _ => Err(format!("unknown workload {name}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    options.soak = soak.then_some(requests);
    Ok(options)
}

fn run(options: &Options) -> Result<(), String> {
    if Envoy::is_wrapped() {
        return Err("Envoy runs under func-e here; its CPU time cannot be read. Set ENVOY_BIN to the Envoy binary.".into());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return Err("needs 2 cores: Envoy and the load generator run on separate ones".into());
    }
    // Everything this process starts from now on (sink threads, wrk) shares the load core.
    pin_current_thread(LOAD_CORE)?;
    println!(
        "Envoy `--concurrency 1` on core {ENVOY_CORE}, `wrk -t1 -c{}` on core {LOAD_CORE}, {} s per run, {} interleaved rounds, medians.\n",
        options.connections, options.seconds, options.rounds
    );
    for &workload in &options.workloads {
        let table = match workload {
            Workload::Body => body_tables(options)?,
            _ => header_table(workload, options)?,
        };
        println!("{table}");
    }
    Ok(())
}

/// A configuration's Envoy and its samples.
struct Subject {
    config: Config,
    envoy: Envoy,
    sink_port: u16,
    samples: Vec<Sample>,
}

impl Subject {
    fn start(config: Config, sink: &Upstream) -> Result<Subject, String> {
        let module = config.wasm.as_ref().or(config.library.as_ref());
        if let Some(module) = module.filter(|m| !m.is_file()) {
            return Err(format!(
                "{} is missing: run scripts/bench.sh",
                module.display()
            ));
        }
        let envoy = start_envoy(&config, sink.port())?;
        Ok(Subject {
            config,
            envoy,
            sink_port: sink.port(),
            samples: Vec::new(),
        })
    }

    /// Replaces the Envoy with a fresh process: how one process happens to be laid out in
    /// memory moves its cost per request by a microsecond or two, so each round gets a new
    /// draw instead of one process biasing every sample of its configuration.
    fn restart(&mut self) -> Result<(), String> {
        let fresh = start_envoy(&self.config, self.sink_port)?;
        // The old one stops when dropped.
        self.envoy = fresh;
        Ok(())
    }
}

fn start_envoy(config: &Config, sink_port: u16) -> Result<Envoy, String> {
    let vars = [
        ("FILTERS", config.filters.clone()),
        ("SINK_PORT", sink_port.to_string()),
    ];
    pin_current_thread(ENVOY_CORE)?;
    let envoy = Envoy::start_fixture("bench.yaml", &vars);
    pin_current_thread(LOAD_CORE)?;
    envoy.map_err(|exited| format!("Envoy did not start for {}:\n{}", config.name, exited.log))
}

fn start_all(
    workload: Workload,
    sink: &Upstream,
    options: &Options,
) -> Result<Vec<Subject>, String> {
    let all = configs::configs(workload);
    // A name may be a row of another workload only (the log-line rows are header's).
    if let Some(unknown) = options.configs.iter().find(|name| {
        ![Workload::Header, Workload::Multi, Workload::Body]
            .into_iter()
            .any(|w| configs::configs(w).iter().any(|c| c.name == name.as_str()))
    }) {
        return Err(format!("--configs: no configuration named {unknown:?}"));
    }
    all.into_iter()
        .filter(|config| {
            options.configs.is_empty()
                || config.name == NO_FILTER
                || options.configs.iter().any(|name| name == config.name)
        })
        .map(|config| Subject::start(config, sink))
        .collect()
}

fn header_table(workload: Workload, options: &Options) -> Result<String, String> {
    let sink = Upstream::start_sink();
    let mut subjects = start_all(workload, &sink, options)?;
    for subject in &subjects {
        check_headers(subject)?;
    }
    let load = Load {
        core: LOAD_CORE,
        connections: options.connections,
        duration: Duration::from_secs(options.seconds),
        script: None,
    };
    measure(&mut subjects, &load, "/", options.rounds)?;
    let title = match workload {
        Workload::Header => "header: read `:path`, add one response header",
        _ => "multi-header: read 5 request headers, set 2, add 1 response header",
    };
    Ok(table(title, &subjects))
}

fn body_tables(options: &Options) -> Result<String, String> {
    let sink = Upstream::start_sink();
    let mut output = String::new();
    for (label, size) in BODY_SIZES {
        let mut subjects = start_all(Workload::Body, &sink, options)?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let body = json_body(size);
        for subject in &subjects {
            check_body(subject, &sink, &body)?;
        }
        let script = write_post_script(dir.path(), &body)?;
        let load = Load {
            core: LOAD_CORE,
            connections: options.connections.min(4),
            duration: Duration::from_secs(options.seconds),
            script: Some(script),
        };
        measure(&mut subjects, &load, "/upload", options.rounds)?;
        let title = format!("body: buffer a {label} JSON body, redact 2 fields, forward it");
        output.push_str(&table(&title, &subjects));
        output.push('\n');
    }
    Ok(output)
}

/// `rounds` rounds over all subjects in turn, each run on a fresh Envoy after a warm-up;
/// then the last Envoys serve at least `MEMORY_AFTER_REQUESTS` (as far as a few more runs
/// allow) before their memory is read.
fn measure(subjects: &mut [Subject], load: &Load, path: &str, rounds: usize) -> Result<(), String> {
    let warm_up = Load {
        duration: Duration::from_secs(1),
        script: load.script.clone(),
        ..*load
    };
    for round in 1..=rounds {
        eprint!("round {round}/{rounds}:");
        for subject in subjects.iter_mut() {
            subject.restart()?;
            warm_up.run(&subject.envoy.url(path), subject.envoy.pid())?;
            let sample = load.run(&subject.envoy.url(path), subject.envoy.pid())?;
            eprint!(
                " {}={:.1}µs",
                subject.config.name, sample.cpu_us_per_request
            );
            subject.samples.push(sample);
        }
        eprintln!();
    }
    for subject in subjects.iter().filter(|s| s.config.wasm.is_some()) {
        for _ in 0..5 {
            if served(subject) >= MEMORY_AFTER_REQUESTS {
                break;
            }
            load.run(&subject.envoy.url(path), subject.envoy.pid())?;
        }
    }
    // The memory gauges update once a second.
    std::thread::sleep(Duration::from_millis(1500));
    Ok(())
}

fn served(subject: &Subject) -> u64 {
    subject
        .envoy
        .stat("http.bench.downstream_rq_total")
        .unwrap_or_default()
}

fn check_headers(subject: &Subject) -> Result<(), String> {
    check_header_request(&subject.envoy, &subject.config)
}

/// One request of the header workloads (`GET /` with the two headers multi-header reads),
/// on `envoy`'s keep-alive client; `Err` unless `config`'s filter marked the response.
fn check_header_request(envoy: &Envoy, config: &Config) -> Result<(), String> {
    let response = envoy
        .http1()
        .get(envoy.url("/"))
        .header("x-b1", "alpha")
        .header("x-b2", "beta")
        .send()
        .map_err(|e| format!("{}: {e}", config.name))?;
    let marker = response
        .headers()
        .get("x-bench")
        .and_then(|v| v.to_str().ok());
    if response.status() != 200 || marker != config.marker {
        return Err(format!(
            "{} does not do the work: status {}, x-bench {marker:?}\n{}",
            config.name,
            response.status(),
            envoy.log()
        ));
    }
    Ok(())
}

fn check_body(subject: &Subject, sink: &Upstream, body: &str) -> Result<(), String> {
    let response = reqwest::blocking::Client::new()
        .post(subject.envoy.url("/upload"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .map_err(|e| format!("{}: {e}", subject.config.name))?;
    let seen = sink.last_request().map(|r| r.body).unwrap_or_default();
    let redacted = seen.contains("[redacted]") && !seen.contains("hunter2");
    let expected = subject.config.name != NO_FILTER;
    if response.status() != 200 || redacted != expected || seen.len() < body.len() / 2 {
        return Err(format!(
            "{}: status {}, upstream body of {} bytes, redacted: {redacted}\n{}",
            subject.config.name,
            response.status(),
            seen.len(),
            subject.envoy.log()
        ));
    }
    Ok(())
}

/// A JSON object of `size` bytes (at least ~100) with the two fields the filters redact.
fn json_body(size: usize) -> String {
    let mut body =
        String::from(r#"{"user":"ada","password":"hunter2","card":"4111111111111111","items":["#);
    let mut i = 0;
    while body.len() + 64 < size {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"id":{i},"name":"item {i}","price":{}.5}}"#,
            i % 100
        );
        i += 1;
    }
    body.push_str("]}");
    // Trailing whitespace is valid JSON and makes the size exact.
    let padding = size.saturating_sub(body.len());
    body.extend(std::iter::repeat_n(' ', padding));
    body
}

fn write_post_script(dir: &Path, body: &str) -> Result<std::path::PathBuf, String> {
    let body_path = dir.join("body.json");
    std::fs::write(&body_path, body).map_err(|e| e.to_string())?;
    let script = dir.join("post.lua");
    let lua = format!(
        "local f = io.open(\"{}\", \"rb\")\nwrk.method = \"POST\"\nwrk.body = f:read(\"*a\")\nf:close()\nwrk.headers[\"content-type\"] = \"application/json\"\n",
        body_path.display()
    );
    std::fs::write(&script, lua).map_err(|e| e.to_string())?;
    Ok(script)
}

/// The median and the half-width of the interquartile range.
fn median_spread(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let position = q * (values.len() - 1) as f64;
        let (low, high) = (position.floor() as usize, position.ceil() as usize);
        values[low] + (values[high] - values[low]) * (position - low as f64)
    };
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (at(0.5), (at(0.75) - at(0.25)) / 2.0)
}

fn median(values: Vec<f64>) -> f64 {
    median_spread(values).0
}

/// One table. Overheads are paired: each round's figure minus "no filter" in the same
/// round, so that slow drifts of the machine cancel; `±` is half the interquartile range.
fn table(title: &str, subjects: &[Subject]) -> String {
    let cpu =
        |s: &Subject| -> Vec<f64> { s.samples.iter().map(|x| x.cpu_us_per_request).collect() };
    let floor = subjects
        .iter()
        .find(|s| s.config.name == NO_FILTER)
        .map(cpu)
        .unwrap_or_default();
    let overheads = |s: &Subject| -> Vec<f64> {
        cpu(s)
            .iter()
            .zip(&floor)
            .map(|(with, without)| with - without)
            .collect()
    };
    let peer_overhead = subjects
        .iter()
        .find(|s| s.config.name == PEER)
        .map(|s| median(overheads(s)));
    let floor_overhead = subjects
        .iter()
        .find(|s| s.config.name == FLOOR)
        .map(|s| median(overheads(s)));
    let native_overhead = subjects
        .iter()
        .find(|s| s.config.name == HEADER_MUTATION)
        .map(|s| median(overheads(s)));
    let mut out = format!("### {title}\n\n");
    out.push_str("| configuration | Envoy CPU µs/req | above no filter (± IQR/2) | ÷ peer's overhead | ÷ floor's overhead | ÷ header_mutation's overhead | req/s | p99 ms | module bytes | after wasm-opt -Oz | linear memory after load |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for subject in subjects {
        let is_floor = subject.config.name == NO_FILTER;
        let (overhead, spread) = median_spread(overheads(subject));
        let above = if is_floor {
            String::new()
        } else {
            format!("{overhead:+.1} (±{spread:.1})")
        };
        let ratio_to = |base: Option<f64>| match base {
            Some(base) if !is_floor && base > 0.0 => format!("{:.2}", overhead / base),
            _ => String::new(),
        };
        let (ratio, to_floor) = (ratio_to(peer_overhead), ratio_to(floor_overhead));
        let to_native = ratio_to(native_overhead);
        let rps = median(
            subject
                .samples
                .iter()
                .map(|x| x.requests_per_second)
                .collect(),
        );
        let p99 = median(subject.samples.iter().map(|x| x.p99_ms).collect());
        let (size, optimized, memory) = match (&subject.config.wasm, &subject.config.library) {
            (Some(module), _) => (file_size(module), wasm_opt_size(module), memory(subject)),
            (None, Some(library)) => (file_size(library), String::new(), String::new()),
            (None, None) => (String::new(), String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} | {above} | {ratio} | {to_floor} | {to_native} | {rps:.0} | {p99:.2} | {size} | {optimized} | {memory} |",
            subject.config.name,
            median(cpu(subject)),
        );
    }
    out
}

fn memory(subject: &Subject) -> String {
    match subject.envoy.stat("wasmcustom.bench_memory_bytes") {
        Some(bytes) => format!("{} KiB after {} req", bytes / 1024, served(subject)),
        None => "?".into(),
    }
}

fn file_size(path: &Path) -> String {
    std::fs::metadata(path)
        .map(|m| m.len().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The module's size after `wasm-opt -Oz` (binaryen), or `-` without it.
fn wasm_opt_size(path: &Path) -> String {
    let Ok(dir) = tempfile::tempdir() else {
        return "?".into();
    };
    let out = dir.path().join("opt.wasm");
    match std::process::Command::new("wasm-opt")
        .args([
            "-Oz",
            "--enable-bulk-memory",
            "--enable-sign-ext",
            "--enable-nontrapping-float-to-int",
            "--enable-mutable-globals",
        ])
        .arg(path)
        .arg("-o")
        .arg(&out)
        .output()
    {
        Ok(o) if o.status.success() => file_size(&out),
        _ => "-".into(),
    }
}

/// Pins the calling thread (and what it starts later) to one core.
fn pin_current_thread(core: usize) -> Result<(), String> {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "cannot pin to core {core}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}
