//! The subcommands, one function each; `main` only parses arguments.

use crate::image::{self, Format};
use crate::project::FilterCrate;
use crate::registry::{self, Reference};
use crate::scaffold::{self, SdkSource};
use crate::wasm::{self, Module};
use crate::{Error, Result, manifests, schema, write_all_or_nothing};
use std::path::{Component, Path, PathBuf};

/// Which crate a command acts on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    /// `-p CRATE`; else the package in the current folder.
    pub package: Option<&'a str>,
    /// `--manifest-path`.
    pub manifest_path: Option<&'a Path>,
    /// `--wasm FILE`: a module built already, instead of building one.
    pub wasm: Option<&'a Path>,
}

impl Selection<'_> {
    fn filter(&self) -> Result<FilterCrate> {
        FilterCrate::find(self.package, self.manifest_path)
    }

    fn module(&self, filter: &FilterCrate) -> Result<Module> {
        filter.require_cdylib()?;
        match self.wasm {
            Some(path) => wasm::read(path),
            None => wasm::build(filter),
        }
    }
}

/// `new PATH`.
pub fn new(path: &Path, sdk_version: Option<&str>, sdk_path: Option<&Path>) -> Result<()> {
    let sdk = match (sdk_version, sdk_path) {
        (Some(version), _) => SdkSource::Version(version),
        (None, Some(path)) => SdkSource::Path(path),
        (None, None) => scaffold::default_sdk(),
    };
    scaffold::create(path, sdk)?;
    println!(
        "created {}: `cargo test` and `cargo envoy-wasm build` in it",
        path.display()
    );
    Ok(())
}

/// `build`: returns the module.
pub fn build(selection: Selection<'_>) -> Result<Module> {
    let filter = selection.filter()?;
    let module = wasm::build(&filter)?;
    println!(
        "{} {} bytes{}",
        module.path.display(),
        module.bytes.len(),
        if module.optimized {
            " (wasm-opt -O3)"
        } else {
            ""
        }
    );
    Ok(module)
}

/// `build --target native`: builds the crate as an Envoy dynamic module.
pub fn build_native(selection: Selection<'_>) -> Result<crate::native::Library> {
    if selection.wasm.is_some() {
        return Err(Error::new(
            "--wasm names a module to use, not one to build natively",
        ));
    }
    let filter = selection.filter()?;
    let library = crate::native::build(&filter)?;
    println!("{} {} bytes", library.path.display(), library.size);
    Ok(library)
}

/// `package --tag NAME:VERSION`.
pub fn package(
    selection: Selection<'_>,
    tag: &str,
    format: &str,
    out: Option<&Path>,
    push: Option<&str>,
    insecure: bool,
) -> Result<()> {
    let (_, version) = image::parse_tag(tag)?;
    let format = Format::parse(format)?;
    let target = push
        .map(|text| Reference::parse(text, version))
        .transpose()?;
    if let Some(target) = target.as_ref().filter(|t| !t.is_loopback() && insecure) {
        eprintln!("warning: pushing to {} over plain HTTP", target.registry);
    }
    let filter = selection.filter()?;
    let module = selection.module(&filter)?;
    let image = image::build(&module.bytes, format)?;
    if let Some(target) = &target {
        registry::push(&image, target, insecure)?;
        println!("pushed {target}@{}", image.manifest.digest);
    }
    let out = out.map_or_else(|| filter.work_dir().join("oci"), Path::to_path_buf);
    image::write_layout(&image, version, &out)?;
    println!("{}:{version} {}", out.display(), image.manifest.digest);
    Ok(())
}

/// `manifests --image oci://REF`.
pub fn manifests(
    selection: Selection<'_>,
    image_ref: &str,
    config: Option<&Path>,
    format: &str,
    out: Option<&Path>,
) -> Result<()> {
    let format = Format::parse(format)?;
    if !image_ref.starts_with("oci://") {
        return Err(Error::new(format!(
            "--image `{image_ref}` must be an OCI reference: oci://REGISTRY/REPOSITORY:TAG"
        )));
    }
    Reference::parse(image_ref, "latest")?;
    let filter = selection.filter()?;
    filter.require_cdylib()?;
    let plugin_config = config.map(read_config).transpose()?;
    if let Some(plugin_config) = &plugin_config {
        let schema: serde_json::Value = serde_json::from_str(&schema::of_crate(&filter)?)
            .map_err(|e| Error::new(format!("the config schema is not JSON: {e}")))?;
        let json = serde_json::to_value(plugin_config)
            .map_err(|e| Error::new(format!("the plugin configuration is not JSON-like: {e}")))?;
        schema::check(&schema, &json)?;
    }
    let module = selection.module(&filter)?;
    let image = image::build(&module.bytes, format)?;
    let out = out.map_or_else(|| filter.work_dir().join("manifests"), Path::to_path_buf);
    let local_module = relative_to(
        &absolute(&out)?,
        &absolute(&filter.work_dir().join("plugin.wasm"))?,
    );
    let files = manifests::render(&manifests::Plugin {
        name: &filter.name,
        image: image_ref,
        sha256: image.digest_hex(),
        config: plugin_config.as_ref(),
        local_module: &local_module,
        kind: module.kind()?,
    })?;
    write_all_or_nothing(&out, &files)?;
    println!("{} (sha256 {})", out.display(), image.digest_hex());
    Ok(())
}

/// `schema`.
pub fn schema(selection: Selection<'_>) -> Result<()> {
    println!("{}", schema::of_crate(&selection.filter()?)?);
    Ok(())
}

/// A plugin configuration file, JSON or YAML.
fn read_config(path: &Path) -> Result<serde_yaml::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    serde_yaml::from_str(&text)
        .map_err(|e| Error::new(format!("{} is neither JSON nor YAML: {e}", path.display())))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))
}

/// `target` as a path from the folder `from` (both absolute).
fn relative_to(from: &Path, target: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = target.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part);
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        assert_eq!(
            relative_to(
                Path::new("/w/examples/a/deploy"),
                Path::new("/w/target/envoy-wasm/a/plugin.wasm")
            ),
            "../../../target/envoy-wasm/a/plugin.wasm"
        );
    }
}
