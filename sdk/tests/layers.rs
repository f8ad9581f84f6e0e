//! The SDK's layers run one way: `abi` -> `host` -> the user API -> `runtime`, and the
//! emulator (`testing`) reaches the runtime only through `runtime::seam`; within and across
//! layers, no two files use each other, directly or round a circle. These tests read the
//! sources and fail on an import against that order, and on a circle.

use std::collections::{BTreeMap, BTreeSet};
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

/// A source file's module path under `src/`, as `a/b` (`a/b.rs` and `a/b/mod.rs` alike; the
/// crate root is empty).
fn module_of(relative: &str) -> String {
    let path = relative.trim_end_matches(".rs");
    let path = path.strip_suffix("/mod").unwrap_or(path);
    if path == "lib" {
        String::new()
    } else {
        path.to_owned()
    }
}

/// The code of a file without its comments (line comments, doc comments included).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths named after `prefix::` at `text[at..]`: one, or each of a `{...}` group
/// (nested groups flattened), as `a::b::c`.
fn paths_at(text: &str, at: usize) -> Vec<String> {
    let rest = &text[at..];
    let head: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let after = &rest[head.len()..];
    if !after.starts_with('{') {
        return vec![head.trim_end_matches(':').to_owned()];
    }
    // A group: split at its top-level commas.
    let (mut depth, mut start, mut out) = (0, 1, Vec::new());
    for (i, c) in after.char_indices() {
        match c {
            '{' => depth += 1,
            '}' | ',' if depth == 1 => {
                let element = after[start..i].trim();
                if !element.is_empty() {
                    for inner in paths_at(element, 0) {
                        out.push(format!("{head}{inner}"));
                    }
                }
                start = i + 1;
                if c == '}' {
                    break;
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    out
}

/// The module a path from the crate root lands in: its longest prefix that is a module,
/// or, for a name the crate root re-exports (`crate::PluginOps`), the module it comes
/// from.
fn land(path: &str, modules: &BTreeSet<String>, reexports: &BTreeMap<String, String>) -> String {
    let names: Vec<&str> = path.split("::").filter(|name| !name.is_empty()).collect();
    if let Some(module) = names.first().and_then(|first| reexports.get(*first)) {
        return module.clone();
    }
    (1..=names.len())
        .rev()
        .map(|n| names[..n].join("/"))
        .find(|candidate| modules.contains(candidate))
        .unwrap_or_default()
}

/// Which module each name the crate root re-exports (`pub use module::{A, B};`) comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let code = code_of(lib);
    for (at, _) in code.match_indices("pub use ") {
        for path in paths_at(&code, at + 8) {
            let mut names = path.split("::");
            let (Some(module), Some(name)) = (names.next(), names.last()) else {
                continue;
            };
            if !matches!(module, "crate" | "self" | "super") {
                out.entry(name.to_owned())
                    .or_insert_with(|| module.to_owned());
            }
        }
    }
    out
}

/// Every module's uses of other modules (`crate::`, `$crate::` and `super::` paths), a
/// module's own submodules and ancestors aside: a directory's `mod.rs` is its facade.
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let texts: BTreeMap<String, String> = files
        .iter()
        .map(|file| {
            let relative = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (
                module_of(&relative),
                code_of(&std::fs::read_to_string(file).unwrap()),
            )
        })
        .collect();
    let modules: BTreeSet<String> = texts.keys().cloned().collect();
    let reexports = root_reexports(&texts[""]);
    let mut graph = BTreeMap::new();
    for (module, code) in &texts {
        let parent = module.rsplit_once('/').map_or("", |(parent, _)| parent);
        let mut paths = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let before = code[..at].chars().next_back();
            if before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_')) {
                paths.extend(paths_at(code, at + 7));
            }
        }
        for (at, _) in code.match_indices("super::") {
            let before = code[..at].chars().next_back();
            if before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
                let base = parent.replace('/', "::");
                paths.extend(
                    paths_at(code, at + 7)
                        .into_iter()
                        .map(|p| format!("{base}::{p}")),
                );
            }
        }
        let targets: BTreeSet<String> = paths
            .iter()
            .map(|path| {
                // Module names are lower case: a type's or function's name ends the path,
                // save for a name the crate root re-exports.
                let names: Vec<&str> = path.split("::").filter(|n| !n.is_empty()).collect();
                let keep = names
                    .iter()
                    .enumerate()
                    .take_while(|(i, n)| {
                        n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                            || (*i == 0 && reexports.contains_key(**n))
                    })
                    .count();
                land(
                    &names[..keep.max(1).min(names.len())].join("::"),
                    &modules,
                    &reexports,
                )
            })
            .filter(|target| {
                !target.is_empty()
                    && target != module
                    && !module.is_empty()
                    && !target.starts_with(&format!("{module}/"))
                    && !module.starts_with(&format!("{target}/"))
            })
            .collect();
        graph.insert(module.clone(), targets);
    }
    graph
}

/// The modules reachable from `from`.
fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_owned()];
    while let Some(module) = todo.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

#[test]
fn no_two_files_use_each_other_even_round_a_circle() {
    let graph = uses();
    let mut circles = BTreeSet::new();
    for (module, targets) in &graph {
        for target in targets {
            if reachable(&graph, target).contains(module) {
                let mut circle: Vec<String> = reachable(&graph, module)
                    .into_iter()
                    .filter(|other| reachable(&graph, other).contains(module))
                    .collect();
                circle.sort();
                circles.insert(circle.join(" <-> "));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules in a circle (each reaches the others):\n{}",
        circles.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_circle_check_sees_uses() {
    // The check is only as good as its reading of paths: known uses must show.
    let graph = uses();
    let uses_of = |module: &str| graph.get(module).cloned().unwrap_or_default();
    assert!(
        uses_of("runtime/calls").contains("runtime/state"),
        "{:?}",
        uses_of("runtime/calls")
    );
    assert!(
        uses_of("callout").contains("grpc"),
        "{:?}",
        uses_of("callout")
    );
    // `crate::PluginOps`, a name the crate root re-exports, is a use of `plugin`.
    assert!(
        uses_of("runtime/root").contains("plugin"),
        "{:?}",
        uses_of("runtime/root")
    );
    assert_eq!(paths_at("crate::{a::{B, c}, d};", 7), ["a::B", "a::c", "d"],);
}
