//! `cargo envoy-wasm new`: a filter crate that builds and passes its tests at once.

use crate::{Error, Result};
use std::path::Path;

/// Where the new crate's SDK comes from.
#[derive(Debug, Clone)]
pub enum SdkSource<'a> {
    /// A local checkout of the SDK (its `sdk/` folder).
    Path(&'a Path),
    /// A version published on crates.io.
    Version(&'a str),
}

/// The SDK of the checkout this tool was built from; for a tool installed from crates.io
/// (no checkout beside it), the published SDK of the same version.
pub fn default_sdk() -> SdkSource<'static> {
    let checkout = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let manifest = std::fs::read_to_string(checkout.join("Cargo.toml")).unwrap_or_default();
    if manifest.contains("name = \"envoy-wasm-sdk\"") {
        SdkSource::Path(checkout)
    } else {
        SdkSource::Version(env!("CARGO_PKG_VERSION"))
    }
}

const FILES: [(&str, &str); 8] = [
    ("Cargo.toml", include_str!("templates/Cargo.toml.txt")),
    ("src/lib.rs", include_str!("templates/lib.rs.txt")),
    (
        "tests/emulator.rs",
        include_str!("templates/emulator.rs.txt"),
    ),
    ("envoy.yaml", include_str!("templates/envoy.yaml.txt")),
    ("config.json", include_str!("templates/config.json.txt")),
    ("README.md", include_str!("templates/README.md.txt")),
    (".gitignore", include_str!("templates/gitignore.txt")),
    ("clippy.toml", include_str!("templates/clippy.toml.txt")),
];

/// Creates the crate at `dir`, named after its last component.
pub fn create(dir: &Path, sdk: SdkSource<'_>) -> Result<()> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::new(format!("{} names no crate", dir.display())))?;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(Error::new(format!(
            "`{name}` is not a crate name: letters, digits, `_` and `-`, starting with a letter"
        )));
    }
    if dir.exists() {
        return Err(Error::new(format!("{} exists already", dir.display())));
    }
    let sdk = match sdk {
        SdkSource::Path(path) => {
            let path = path
                .canonicalize()
                .map_err(|e| Error::io("find the SDK at", path, e))?;
            format!("path = {:?}", path.display().to_string())
        }
        SdkSource::Version(version) => format!("version = {version:?}"),
    };
    let lib_name = name.replace('-', "_");
    let type_name: String = lib_name
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| part[..1].to_ascii_uppercase() + &part[1..])
        .collect();
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{name_dashed}}", &name.replace('_', "-"))
            .replace("{{lib_name}}", &lib_name)
            .replace("{{type_name}}", &type_name)
            .replace("{{sdk}}", &sdk)
    };
    let written = FILES.iter().try_for_each(|(file, template)| {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        std::fs::write(&path, fill(template)).map_err(|e| Error::io("write", &path, e))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    written
}
