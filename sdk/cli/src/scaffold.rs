//! `cargo envoy-wasm new`: a filter crate that builds and passes its tests at once.

use crate::project::{SDK_PACKAGE, SdkDependency};
use crate::{PathContext as _, Result};
use anyhow::{Context as _, anyhow, bail};
use std::path::Path;
use toml_edit::{DocumentMut, value};

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
    let package = manifest.parse::<DocumentMut>().ok().and_then(|manifest| {
        let name = manifest.get("package")?.get("name")?.as_str()?;
        Some(name.to_owned())
    });
    if package.as_deref() == Some(SDK_PACKAGE) {
        SdkSource::Path(checkout)
    } else {
        SdkSource::Version(env!("CARGO_PKG_VERSION"))
    }
}

/// The new crate's Cargo.toml, but its package name and where the SDK comes from
/// ([`manifest`] sets them).
const MANIFEST: &str = include_str!("templates/Cargo.toml.txt");

/// The other files, with `{{name}}`, `{{name_dashed}}`, `{{lib_name}}` and `{{type_name}}`
/// filled in.
const FILES: [(&str, &str); 6] = [
    ("src/lib.rs", include_str!("templates/lib.rs.txt")),
    (
        "tests/emulator.rs",
        include_str!("templates/emulator.rs.txt"),
    ),
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
        .ok_or_else(|| anyhow!("{} names no crate", dir.display()))?;
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        bail!("`{name}` is not a crate name: letters, digits, `_` and `-`, starting with a letter");
    }
    if dir.exists() {
        bail!("{} exists already", dir.display());
    }
    let sdk = match sdk {
        SdkSource::Path(path) => {
            SdkDependency::Path(path.canonicalize().on_path("find the SDK at", path)?)
        }
        SdkSource::Version(version) => SdkDependency::Version(version.to_owned()),
    };
    let manifest = manifest(name, &sdk)?;
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
    };
    let files = std::iter::once(("Cargo.toml", manifest))
        .chain(FILES.iter().map(|(file, template)| (*file, fill(template))));
    let written = files.into_iter().try_for_each(|(file, text)| {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).on_path("create", parent)?;
        }
        std::fs::write(&path, text).on_path("write", &path)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    written
}

/// The new crate's Cargo.toml: [`MANIFEST`] with the package named `name` and the SDK
/// (a dependency and a dev-dependency, each with its features) from `sdk`.
fn manifest(name: &str, sdk: &SdkDependency) -> Result<String> {
    let mut manifest: DocumentMut = MANIFEST
        .parse()
        .context("the new crate's Cargo.toml template is not TOML")?;
    manifest["package"]["name"] = value(name);
    for table in ["dependencies", "dev-dependencies"] {
        let features: Vec<String> = manifest[table][SDK_PACKAGE]
            .get("features")
            .and_then(|features| features.as_array())
            .map(|features| {
                features
                    .iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let features: Vec<&str> = features.iter().map(String::as_str).collect();
        manifest[table][SDK_PACKAGE] = value(sdk.table(&features));
    }
    Ok(manifest.to_string())
}
