//! The JSON Schema of a filter's configuration type, and checking a configuration with it.
//!
//! The schema comes from the Rust type itself: `envoy_wasm_sdk::entry!` gives every filter
//! crate a hidden function returning its `Plugin::Config`'s schema (when the type derives
//! `schemars::JsonSchema`). [`of_crate`] compiles a small native program next to the crate
//! that calls it, with the SDK's `schema` feature on, and reads what it prints. The crate
//! must also be an `rlib` for that.

use crate::project::{FilterCrate, SDK_PACKAGE, SdkDependency, cargo};
use crate::{PathContext as _, Result};
use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use std::process::Command;
use toml_edit::{DocumentMut, InlineTable, value};

/// The schema of `filter`'s configuration type, as pretty JSON.
pub fn of_crate(filter: &FilterCrate) -> Result<String> {
    filter.require_cdylib()?;
    if !filter.crate_types.iter().any(|t| t == "rlib") {
        bail!(
            "`{}` is not an rlib: add \"rlib\" to crate-type under [lib] so its config schema can be read",
            filter.name
        );
    }
    let sdk = filter
        .sdk_dependency
        .as_ref()
        .ok_or_else(|| anyhow!("`{}` does not depend on {SDK_PACKAGE}", filter.name))?;
    let dir = filter.work_dir().join("schema-reader");
    std::fs::create_dir_all(dir.join("src")).on_path("create", &dir)?;
    let manifest = reader_manifest(filter, sdk)?;
    let main = "fn main() {\n    match filter::__envoy_wasm_config_schema() {\n        \
                Some(schema) => println!(\"{schema}\"),\n        None => std::process::exit(3),\n    }\n}\n";
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).on_path("write", &path)
    };
    write("Cargo.toml", &manifest.to_string())?;
    write("src/main.rs", main)?;
    // The workspace's lock pins the same dependency versions as the filter's own builds.
    let lock = filter.workspace_root.join("Cargo.lock");
    if lock.exists() && !dir.join("Cargo.lock").exists() {
        std::fs::copy(&lock, dir.join("Cargo.lock")).on_path("copy", &lock)?;
    }
    // A target folder of its own: built as a dependency here, a `cdylib` crate's rlib has
    // no hash in its file name and would replace the workspace's own build of it.
    let output = Command::new(cargo())
        .args(["run", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env(
            "CARGO_TARGET_DIR",
            filter.target_dir.join("envoy-wasm/schema-target"),
        )
        .output()
        .context("cannot run cargo")?;
    match output.status.code() {
        Some(0) => String::from_utf8(output.stdout)
            .map(|s| s.trim_end().to_string())
            .map_err(|_| anyhow!("the schema is not UTF-8")),
        Some(3) => Err(anyhow!(
            "the configuration type of `{}` has no JSON Schema: derive `schemars::JsonSchema` on it \
             and on the types it holds (with `schemars` as a dependency)",
            filter.name
        )),
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first_error = stderr
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or_else(|| stderr.trim().lines().last().unwrap_or("no output"));
            Err(anyhow!(
                "cannot read the config schema of `{}` (is `envoy_wasm_sdk::entry!` in its lib.rs?): {first_error}",
                filter.name
            ))
        }
    }
}

/// The fixed part of the schema reader's Cargo.toml; [`reader_manifest`] adds the filter
/// and the SDK as dependencies.
const READER_MANIFEST: &str = "[package]
name = \"schema-reader\"
version = \"0.0.0\"
edition = \"2024\"
publish = false

[workspace]

[dependencies]
";

/// The Cargo.toml of the program that prints `filter`'s schema: the filter by path, and
/// the SDK as the filter has it, with the `schema` feature.
fn reader_manifest(filter: &FilterCrate, sdk: &SdkDependency) -> Result<DocumentMut> {
    let mut manifest: DocumentMut = READER_MANIFEST
        .parse()
        .context("the schema reader's manifest is not TOML")?;
    if let Some(package) = manifest["package"].as_table_mut() {
        package.decor_mut().set_prefix(format!(
            "# Made by cargo envoy-wasm to read `{}`'s config schema.\n",
            filter.name
        ));
    }
    let mut crate_ = InlineTable::new();
    crate_.insert("package", filter.name.as_str().into());
    crate_.insert("path", filter.dir.display().to_string().into());
    crate_.fmt();
    manifest["dependencies"]["filter"] = value(crate_);
    manifest["dependencies"][SDK_PACKAGE] = value(sdk.table(&["schema"]));
    Ok(manifest)
}

/// Checks `config` against `schema`. The error names the first bad field by the path the
/// filter itself names at configure time (`request.set[1].value`).
pub fn check(schema: &Value, config: &Value) -> Result<()> {
    let validator = jsonschema::validator_for(schema)
        .context("the config schema is not a valid JSON Schema")?;
    let Some(error) = validator.iter_errors(config).next() else {
        return Ok(());
    };
    let pointer = error.instance_path().to_string();
    let path = field_path(config, &pointer);
    let message = error.to_string();
    Err(anyhow!(if path.is_empty() {
        format!("invalid plugin configuration: {message}")
    } else {
        format!("invalid plugin configuration: field `{path}`: {message}")
    }))
}

/// A JSON pointer (`/request/set/1/value`) as serde names the field: `request.set[1].value`.
fn field_path(config: &Value, pointer: &str) -> String {
    let mut path = String::new();
    let mut node = Some(config);
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        match node {
            Some(Value::Array(items)) => {
                path.push_str(&format!("[{token}]"));
                node = token.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            _ => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&token);
                node = node.and_then(|n| n.get(&token));
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_name_fields_as_serde_does() {
        let config = json!({"request": {"set": [{"name": "a"}, {"value": 2}]}, "7": {"x": 1}});
        assert_eq!(
            field_path(&config, "/request/set/1/value"),
            "request.set[1].value"
        );
        assert_eq!(field_path(&config, "/7/x"), "7.x");
        assert_eq!(field_path(&config, ""), "");
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let schema = json!({
            "type": "object",
            "properties": {"rules": {"type": "array", "items": {
                "type": "object", "properties": {"value": {"type": "string"}}}}}
        });
        let error = check(&schema, &json!({"rules": [{"value": "a"}, {"value": 2}]})).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid plugin configuration: field `rules[1].value`: 2 is not of type \"string\""
        );
        assert!(check(&schema, &json!({"rules": []})).is_ok());
    }
}
