//! The SDK's layers run one way: `abi` -> `host` -> the user API -> `runtime`, and the
//! emulator (`testing`) reaches the runtime only through `runtime::seam`. This test reads
//! the sources and fails on an import against that order.

use std::path::Path;

/// The layer of a source file, by its path under `src/`.
fn layer(path: &str) -> u8 {
    match path.split('/').next().unwrap_or_default() {
        "abi" => 0,
        "host" => 1,
        "runtime" => 3,
        "testing" => 4,
        "lib.rs" => 5,
        _ => 2, // the user API
    }
}

/// The layer a `crate::name` path points into.
fn target_layer(name: &str) -> u8 {
    match name {
        "abi" => 0,
        "host" => 1,
        "runtime" => 3,
        "testing" => 4,
        _ => 2,
    }
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_import_points_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let own = layer(&relative);
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let target = target_layer(&name);
                // The emulator uses the user API and the runtime's seam, nothing else of it.
                let seam = own == 4 && code[at..].starts_with("crate::runtime::seam");
                let allowed = target <= own && (target != 3 || own != 4 || seam);
                if !allowed {
                    wrong.push(format!("{relative}:{}: {}", number + 1, code.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}
