//! An HTTP server that answers every request with a JSON echo of what it received, for
//! running an example's `envoy.yaml` by hand: `cargo run -p envoy-tests --bin echo_upstream -- 8080`.

use envoy_tests::Upstream;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let upstream = Upstream::start_echo_on(port).unwrap_or_else(|e| {
        eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1);
    });
    println!(
        "echo upstream on http://127.0.0.1:{} (Ctrl-C stops it)",
        upstream.port()
    );
    loop {
        std::thread::park();
    }
}
