//! The JSON Schema of a filter's configuration type, and checking a configuration with it.
//!
//! The schema comes from the Rust type itself: `envoy_wasm_sdk::entry!` gives every filter
//! crate a hidden function returning its `Plugin::Config`'s schema (when the type derives
//! `schemars::JsonSchema`). [`of_crate`] compiles a small native program next to the crate
//! that calls it, with the SDK's `schema` feature on, and reads what it prints. The crate
//! must also be an `rlib` for that.

use crate::project::{FilterCrate, SDK_PACKAGE, cargo};
use crate::{Error, Result};
use serde_json::Value;
use std::process::Command;

/// The schema of `filter`'s configuration type, as pretty JSON.
pub fn of_crate(filter: &FilterCrate) -> Result<String> {
    filter.require_cdylib()?;
    if !filter.crate_types.iter().any(|t| t == "rlib") {
        return Err(Error::new(format!(
            "`{}` is not an rlib: add \"rlib\" to crate-type under [lib] so its config schema can be read",
            filter.name
        )));
    }
    let sdk = filter.sdk_dependency.as_deref().ok_or_else(|| {
        Error::new(format!(
            "`{}` does not depend on {SDK_PACKAGE}",
            filter.name
        ))
    })?;
    let dir = filter.work_dir().join("schema-reader");
    std::fs::create_dir_all(dir.join("src")).map_err(|e| Error::io("create", &dir, e))?;
    let manifest = format!(
        "# Made by cargo envoy-wasm to read `{name}`'s config schema.\n\
         [package]\nname = \"schema-reader\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [workspace]\n\n\
         [dependencies]\n\
         filter = {{ package = {name:?}, path = {dir:?} }}\n\
         {SDK_PACKAGE} = {sdk_with_feature}\n",
        name = filter.name,
        dir = filter.dir.display().to_string(),
        sdk_with_feature = sdk.replacen(" }", ", features = [\"schema\"] }", 1),
    );
    let main = "fn main() {\n    match filter::__envoy_wasm_config_schema() {\n        \
                Some(schema) => println!(\"{schema}\"),\n        None => std::process::exit(3),\n    }\n}\n";
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))
    };
    write("Cargo.toml", &manifest)?;
    write("src/main.rs", main)?;
    // The workspace's lock pins the same dependency versions as the filter's own builds.
    let lock = filter.workspace_root.join("Cargo.lock");
    if lock.exists() && !dir.join("Cargo.lock").exists() {
        std::fs::copy(&lock, dir.join("Cargo.lock")).map_err(|e| Error::io("copy", &lock, e))?;
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
        .map_err(|e| Error::new(format!("cannot run cargo: {e}")))?;
    match output.status.code() {
        Some(0) => String::from_utf8(output.stdout)
            .map(|s| s.trim_end().to_string())
            .map_err(|_| Error::new("the schema is not UTF-8")),
        Some(3) => Err(Error::new(format!(
            "the configuration type of `{}` has no JSON Schema: derive `schemars::JsonSchema` on it \
             and on the types it holds (with `schemars` as a dependency)",
            filter.name
        ))),
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first_error = stderr
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or_else(|| stderr.trim().lines().last().unwrap_or("no output"));
            Err(Error::new(format!(
                "cannot read the config schema of `{}` (is `envoy_wasm_sdk::entry!` in its lib.rs?): {first_error}",
                filter.name
            )))
        }
    }
}

/// Checks `config` against `schema`. The error names the first bad field by the path the
/// filter itself names at configure time (`request.set[1].value`).
pub fn check(schema: &Value, config: &Value) -> Result<()> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| Error::new(format!("the config schema is not a valid JSON Schema: {e}")))?;
    let Some(error) = validator.iter_errors(config).next() else {
        return Ok(());
    };
    let pointer = error.instance_path().to_string();
    let path = field_path(config, &pointer);
    let message = error.to_string();
    Err(Error::new(if path.is_empty() {
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
