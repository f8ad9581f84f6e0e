//! Network filters: one table of connections, run on the emulator and in a real Envoy
//! (the probe's network filter before `tcp_proxy`, in front of a TCP echo upstream) with
//! the same assertions: every callback the filter saw, in order, what the upstream and the
//! client received, and how the connection ended.

use envoy_tests::{Envoy, Plugin, TcpClient, TcpEcho};
use envoy_wasm_sdk::testing::{Emulator, TcpConnection};

/// What the client does.
#[derive(Clone, Copy)]
enum Step {
    Send(&'static str),
    /// Half-closes: sends no more.
    Finish,
}
use Step::{Finish, Send};

struct Scenario {
    name: &'static str,
    steps: &'static [Step],
    /// What the upstream received and what came back to the client.
    upstream: &'static str,
    client: &'static str,
    /// Every callback, as the probe logs it (`tcp ...` and the SDK's error line).
    callbacks: &'static [&'static str],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "bytes go both ways; half-closes end the connection",
        steps: &[Send("hello\n"), Finish],
        upstream: "hello\n",
        client: "hello\n",
        callbacks: &[
            "tcp new_connection from 127.0.0.1",
            r#"tcp downstream_data 6 "hello\n" eos=false"#,
            r#"tcp upstream_data 6 "hello\n" eos=false"#,
            r#"tcp downstream_data 0 "" eos=true"#,
            r#"tcp upstream_data 0 "" eos=true"#,
            "tcp upstream_close Unknown",
            "tcp downstream_close Local",
            "tcp done in=6 out=6",
        ],
    },
    Scenario {
        name: "Pause holds the client's bytes; the next chunk sees them too",
        steps: &[Send("hold"), Send(" more\n"), Finish],
        upstream: "hold more\n",
        client: "hold more\n",
        callbacks: &[
            "tcp new_connection from 127.0.0.1",
            r#"tcp downstream_data 4 "hold" eos=false"#,
            r#"tcp downstream_data 10 "hold more\n" eos=false"#,
            r#"tcp upstream_data 10 "hold more\n" eos=false"#,
            r#"tcp downstream_data 0 "" eos=true"#,
            r#"tcp upstream_data 0 "" eos=true"#,
            "tcp upstream_close Unknown",
            "tcp downstream_close Local",
            "tcp done in=14 out=10",
        ],
    },
    Scenario {
        name: "a chunk replaced and a chunk appended to",
        steps: &[Send("upper x\n"), Send("tag\n"), Finish],
        upstream: "UPPER X\ntag\n+tag",
        client: "UPPER X\ntag\n+tag",
        callbacks: &[
            "tcp new_connection from 127.0.0.1",
            r#"tcp downstream_data 8 "upper x\n" eos=false"#,
            r#"tcp upstream_data 8 "UPPER X\n" eos=false"#,
            r#"tcp downstream_data 4 "tag\n" eos=false"#,
            r#"tcp upstream_data 8 "tag\n+tag" eos=false"#,
            r#"tcp downstream_data 0 "" eos=true"#,
            r#"tcp upstream_data 0 "" eos=true"#,
            "tcp upstream_close Unknown",
            "tcp downstream_close Local",
            "tcp done in=12 out=16",
        ],
    },
    Scenario {
        name: "the filter closes from the downstream side: nothing goes on",
        steps: &[Send("close\n"), Finish],
        upstream: "",
        client: "",
        callbacks: &[
            "tcp new_connection from 127.0.0.1",
            r#"tcp downstream_data 6 "close\n" eos=false"#,
            "tcp downstream_close Local",
            "tcp done in=6 out=0",
        ],
    },
    Scenario {
        name: "the filter closes from the upstream side: the same connection closes",
        steps: &[Send("close-up\n"), Finish],
        upstream: "",
        client: "",
        callbacks: &[
            "tcp new_connection from 127.0.0.1",
            r#"tcp downstream_data 9 "close-up\n" eos=false"#,
            "tcp downstream_close Local",
            "tcp done in=9 out=0",
        ],
    },
    Scenario {
        name: "an Err is logged and closes the connection",
        steps: &[Send("fail\n"), Finish],
        upstream: "",
        client: "",
        callbacks: &[
            "tcp new_connection from 127.0.0.1",
            r#"tcp downstream_data 5 "fail\n" eos=false"#,
            "on_downstream_data failed: the client asked for a failure (closing the connection)",
            "tcp downstream_close Local",
            "tcp done in=5 out=0",
        ],
    },
    Scenario {
        name: "Pause holds the upstream's bytes likewise",
        steps: &[Send("HOLD-UP\n"), Send("x\n"), Finish],
        upstream: "HOLD-UP\nx\n",
        client: "HOLD-UP\nx\n",
        callbacks: &[
            "tcp new_connection from 127.0.0.1",
            r#"tcp downstream_data 8 "HOLD-UP\n" eos=false"#,
            r#"tcp upstream_data 8 "HOLD-UP\n" eos=false"#,
            r#"tcp downstream_data 2 "x\n" eos=false"#,
            r#"tcp upstream_data 10 "HOLD-UP\nx\n" eos=false"#,
            r#"tcp downstream_data 0 "" eos=true"#,
            r#"tcp upstream_data 0 "" eos=true"#,
            "tcp upstream_close Unknown",
            "tcp downstream_close Local",
            "tcp done in=10 out=18",
        ],
    },
    Scenario {
        name: "the upstream's bytes replaced",
        steps: &[Send("swap\n"), Finish],
        upstream: "swap\n",
        client: "swapped",
        callbacks: &[
            "tcp new_connection from 127.0.0.1",
            r#"tcp downstream_data 5 "swap\n" eos=false"#,
            r#"tcp upstream_data 5 "swap\n" eos=false"#,
            r#"tcp downstream_data 0 "" eos=true"#,
            r#"tcp upstream_data 0 "" eos=true"#,
            "tcp upstream_close Unknown",
            "tcp downstream_close Local",
            "tcp done in=5 out=5",
        ],
    },
];

/// What came out, on either backend.
#[derive(Debug)]
struct Outcome {
    upstream: String,
    client: String,
    closed: bool,
    callbacks: Vec<String>,
    bytes_in: Option<u64>,
}

fn check(backend: &str, scenario: &Scenario, outcome: &Outcome) {
    let context = format!("{backend}, {}: {outcome:#?}", scenario.name);
    assert_eq!(outcome.callbacks, scenario.callbacks, "{context}");
    assert_eq!(outcome.upstream, scenario.upstream, "{context}");
    assert_eq!(outcome.client, scenario.client, "{context}");
    assert!(outcome.closed, "{context}");
    // The counter the filter defines at the end holds what its last log line says.
    let done = scenario.callbacks.last().copied().unwrap_or_default();
    let bytes_in: u64 = done
        .split_once("in=")
        .and_then(|(_, rest)| rest.split(' ').next()?.parse().ok())
        .unwrap_or_default();
    assert_eq!(outcome.bytes_in, Some(bytes_in), "{context}");
}

/// The emulator, with the echo upstream played by the test: what reaches the upstream
/// comes back, and once the client's end reaches it, it ends too.
fn on_the_emulator(scenario: &Scenario, load: fn() -> Emulator) -> Outcome {
    let envoy = load();
    envoy.configure("").expect("configures");
    let mut connection = envoy.connect();
    let mut echoed = 0;
    let echo = |connection: &mut TcpConnection<'_>, echoed: &mut usize| {
        while connection.upstream_received().len() > *echoed {
            let new = connection.upstream_received()[*echoed..].to_vec();
            *echoed += new.len();
            connection.receive(&new);
        }
        if connection.upstream_saw_end() && connection.closed().is_none() {
            connection.upstream_finishes();
        }
    };
    for step in scenario.steps {
        match step {
            Send(bytes) => connection.send(bytes.as_bytes()),
            Finish => connection.finish(),
        };
        echo(&mut connection, &mut echoed);
    }
    Outcome {
        upstream: String::from_utf8_lossy(connection.upstream_received()).into_owned(),
        client: String::from_utf8_lossy(connection.client_received()).into_owned(),
        closed: connection.closed().is_some(),
        callbacks: envoy.logs().into_iter().map(|line| line.message).collect(),
        bytes_in: envoy.metric("probe.tcp_bytes_in").or(Some(0)),
    }
}

fn in_envoy(scenario: &Scenario) -> Outcome {
    let upstream = TcpEcho::start();
    let envoy = Envoy::start_tcp(&Plugin::new("probe"), upstream.port())
        .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
    let mut client = TcpClient::connect(envoy.port());
    let mut received = Vec::new();
    for step in scenario.steps {
        match step {
            Send(bytes) => client.send(bytes.as_bytes()),
            Finish => client.finish(),
        }
        // Whatever comes back before the next step (the echo, or nothing).
        received.extend(client.read(usize::MAX));
    }
    let closed = client.is_closed_by_peer();
    // The connection's last callback comes with its close.
    envoy.wait_for_log("tcp done");
    let callbacks = envoy
        .log()
        .lines()
        .filter_map(|line| line.split_once("wasm log ")?.1.split_once(": "))
        .map(|(_, message)| message.to_owned())
        .collect();
    Outcome {
        upstream: upstream
            .received()
            .iter()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .collect(),
        client: String::from_utf8_lossy(&received).into_owned(),
        closed,
        callbacks,
        bytes_in: envoy.stat("wasmcustom.probe.tcp_bytes_in").or(Some(0)),
    }
}

#[test]
fn the_emulator_drives_connections_as_envoy_does() {
    for scenario in SCENARIOS {
        let native = || Emulator::new(probe::register_plugin);
        check("emulator", scenario, &on_the_emulator(scenario, native));
        let compiled = || Emulator::from_wasm(envoy_tests::wasm_path("probe"));
        check(
            "emulator (wasm)",
            scenario,
            &on_the_emulator(scenario, compiled),
        );
    }
}

#[test]
fn envoy_drives_connections_as_the_table_says() {
    for scenario in SCENARIOS {
        check("Envoy", scenario, &in_envoy(scenario));
    }
}
