//! The README's first filter, built from the README's own code blocks, passes the README's
//! own test: what a newcomer copies works.

use envoy_tests::{cargo_build_wasm_crate, cargo_test_crate, project_root};

/// The fenced blocks of `language` in the README section that starts with `heading`.
fn blocks(readme: &str, heading: &str, language: &str) -> Vec<String> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("no README section {heading}"));
    let fence = format!("```{language}\n");
    section
        .split(&fence)
        .skip(1)
        .filter_map(|rest| {
            rest.split_once("\n```")
                .map(|(code, _)| format!("{code}\n"))
        })
        .collect()
}

#[test]
fn the_first_filter_passes_its_own_test() {
    let root = project_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let filter = blocks(&readme, "Your first filter", "toml");
    let code = blocks(&readme, "Your first filter", "rust");
    let dev = blocks(&readme, "Testing your filter", "toml");
    let test = blocks(&readme, "Testing your filter", "rust");
    assert_eq!(
        (filter.len(), code.len(), dev.len(), test.len()),
        (1, 1, 1, 1)
    );

    let sdk = root.join("sdk");
    let manifest = format!("{}\n{}", filter[0], dev[0]).replace(
        "path = \"../../sdk\"",
        &format!("path = {:?}", sdk.display().to_string()),
    );
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("my_filter");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::create_dir_all(crate_dir.join("tests")).unwrap();
    // Its own workspace, not this one's.
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!("{manifest}\n[workspace]\n"),
    )
    .unwrap();
    std::fs::write(crate_dir.join("src/lib.rs"), &code[0]).unwrap();
    std::fs::write(crate_dir.join("tests/emulator.rs"), &test[0]).unwrap();

    // As the README says: the module first, then each test runs natively and on it.
    cargo_build_wasm_crate(&crate_dir);
    let stdout = cargo_test_crate(&crate_dir);
    assert!(stdout.contains("test result: ok. 4 passed"), "{stdout}");
}
