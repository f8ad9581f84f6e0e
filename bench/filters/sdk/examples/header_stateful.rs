//! header, on a filter that keeps state per stream.

bench_sdk::stateful_module!(bench_sdk::check_path, "header");
