//! The macros' errors point at the user's code: each `tests/ui/*.rs` but `pass.rs` fails to
//! compile with the error in the `.stderr` beside it (`TRYBUILD=overwrite` rewrites them).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass.rs");
    cases.compile_fail("tests/ui/http_filter_*.rs");
    cases.compile_fail("tests/ui/network_filter_*.rs");
    cases.compile_fail("tests/ui/emulator_test_*.rs");
}
