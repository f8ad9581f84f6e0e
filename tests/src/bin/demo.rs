//! `scripts/demo.sh [example]`: runs an example's own `envoy.yaml` in a real Envoy in front
//! of the echo upstream, sends a few requests and shows, side by side, what the client sent,
//! what the upstream received and what the client got back. Ctrl-C stops everything.

use envoy_tests::{Envoy, SeenRequest, Upstream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

struct Request {
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

fn scenarios(example: &str) -> Vec<Request> {
    match example {
        "http_headers" => vec![
            Request {
                method: "GET",
                path: "/api/items",
                headers: &[
                    ("x-api-key", "secret"),
                    ("x-internal", "debug"),
                    ("x-env", "dev"),
                ],
                body: "",
            },
            Request {
                method: "GET",
                path: "/api/items",
                headers: &[("x-env", "dev")],
                body: "",
            },
        ],
        _ => vec![
            Request {
                method: "GET",
                path: "/hello",
                headers: &[("x-client", "demo")],
                body: "",
            },
            Request {
                method: "POST",
                path: "/items",
                headers: &[("content-type", "application/json")],
                body: r#"{"id": 1}"#,
            },
        ],
    }
}

/// Headers Envoy or the HTTP stack add on their own; hidden so the filter's effect stands out.
const NOISE: &[&str] = &[
    "x-forwarded-proto",
    "x-request-id",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-upstream-service-time",
    "accept",
    "host",
    "date",
    "content-length",
];

/// What the echo upstream itself answers with, to show what the filter changed.
const UPSTREAM_RESPONSE: &[(&str, &str)] = &[
    ("content-type", "application/json"),
    ("server", "echo-upstream"),
    ("x-upstream", "echo"),
];

const WIDTH: usize = 36;

fn cell(text: &str) -> String {
    let text: String = text.chars().take(WIDTH - 1).collect();
    format!("{text:<WIDTH$}")
}

/// Lines for `after`, marking what is new (`+`) and what disappeared (`-`) against `before`.
fn diff(before: &[(String, String)], after: &[(String, String)]) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, value) in after.iter().filter(|(n, _)| !NOISE.contains(&n.as_str())) {
        let mark = if before.iter().any(|(n, v)| n == name && v == value) {
            ' '
        } else {
            '+'
        };
        lines.push(format!("{mark} {name}: {value}"));
    }
    for (name, value) in before.iter().filter(|(n, _)| !NOISE.contains(&n.as_str())) {
        if !after.iter().any(|(n, v)| n == name && v == value) {
            lines.push(format!("- {name}: {value}"));
        }
    }
    lines
}

fn show(envoy: &Envoy, upstream: &Upstream, request: &Request) -> Result<(), reqwest::Error> {
    let before = upstream.requests().len();
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut builder = envoy.http1().request(method, envoy.url(request.path));
    for (name, value) in request.headers {
        builder = builder.header(*name, *value);
    }
    let response = builder.body(request.body).send()?;
    let status = response.status();
    let received: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("<bytes>").to_owned()))
        .collect();
    let body = response.text()?;

    let sent: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut client = vec![format!("{} {}", request.method, request.path)];
    client.extend(sent.iter().map(|(k, v)| format!("  {k}: {v}")));
    if !request.body.is_empty() {
        client.push(format!("  body: {}", request.body));
    }
    let reached: Option<SeenRequest> = upstream.requests().get(before).cloned();
    let mut upstream_col = match &reached {
        Some(seen) => {
            let mut lines = vec![format!("{} {}", seen.method, seen.path)];
            lines.extend(diff(&sent, &seen.headers));
            lines
        }
        None => vec!["(not reached: filter answered)".into()],
    };
    let upstream_sent: Vec<(String, String)> = if reached.is_some() {
        UPSTREAM_RESPONSE
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    } else {
        Vec::new()
    };
    let mut back = vec![format!("{status}")];
    back.extend(diff(&upstream_sent, &received));
    if reached.is_none() {
        back.push(format!("  body: {}", body.trim_end()));
    }
    if let Some(seen) = reached.as_ref().filter(|seen| !seen.body.is_empty()) {
        upstream_col.push(format!("  body: {}", seen.body));
    }

    println!("\n{}", "─".repeat(WIDTH * 3 + 4));
    println!(
        "{}│ {}│ {}",
        cell("client sent"),
        cell("upstream received"),
        cell("client received")
    );
    println!("{}", "─".repeat(WIDTH * 3 + 4));
    let rows = client.len().max(upstream_col.len()).max(back.len());
    for i in 0..rows {
        let at = |col: &Vec<String>| col.get(i).map(String::as_str).unwrap_or("").to_owned();
        println!(
            "{}│ {}│ {}",
            cell(&at(&client)),
            cell(&at(&upstream_col)),
            cell(&at(&back))
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let example = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "hello_world".into());
    unsafe {
        libc::signal(
            libc::SIGINT,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            request_stop as *const () as libc::sighandler_t,
        );
    }
    let upstream = Upstream::start();
    let envoy = match Envoy::start_example(&example, &upstream) {
        Ok(envoy) => envoy,
        Err(exited) => {
            eprintln!(
                "Envoy did not start examples/{example}/envoy.yaml:\n{}",
                exited.log
            );
            return ExitCode::FAILURE;
        }
    };
    println!(
        "Envoy runs examples/{example}/envoy.yaml on {}",
        envoy.url("/")
    );
    println!(
        "(ports made free; upstream: an echo server on 127.0.0.1:{})",
        upstream.port()
    );
    println!("'+' = added or changed on the way, '-' = removed; Envoy's own headers are hidden.");
    for request in scenarios(&example) {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        if let Err(error) = show(&envoy, &upstream, &request) {
            eprintln!("request failed: {error}");
            return ExitCode::FAILURE;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    println!("\nWhat the filter logged:");
    for line in envoy.log().lines().filter(|l| l.contains("wasm log")) {
        println!(
            "  {}",
            line.split_once("wasm log ")
                .map(|(_, rest)| rest)
                .unwrap_or(line)
        );
    }
    if unsafe { libc::isatty(0) } == 1 && !STOP.load(Ordering::SeqCst) {
        println!(
            "\nEnvoy stays up: try  curl -i {}  — Ctrl-C stops it.",
            envoy.url("/")
        );
        while !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    drop(envoy);
    println!("Envoy stopped.");
    ExitCode::SUCCESS
}
