//! The subcommands, one function each; `main` only parses arguments.

use crate::image::{self, Format};
use crate::project::FilterCrate;
use crate::registry::{self, Access, Reference};
use crate::scaffold::{self, SdkSource};
use crate::wasm::{self, Module};
use crate::{PathContext as _, Result, manifests, schema, write_all_or_nothing};
use anyhow::{Context as _, anyhow, bail};
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
        "created {}: in it, `cargo envoy-wasm test` (builds the module and runs every test, \
         natively and on the module) and `cargo envoy-wasm run --upstream HOST:PORT` (the \
         filter in Envoy)",
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
        bail!("--wasm names a module to use, not one to build natively");
    }
    let filter = selection.filter()?;
    let library = crate::native::build(&filter)?;
    println!("{} {} bytes", library.path.display(), library.size);
    Ok(library)
}

/// What `package` records beside the image layout (`image.json`): the digest it wrote and
/// where it pushed it, so that `manifests` uses the digest of what was pushed, never of a
/// rebuild.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    /// `NAME:VERSION`, as `--tag` gave it.
    pub tag: String,
    /// The manifest digest, `sha256:HEX`.
    pub digest: String,
    /// The image format.
    pub format: Format,
    /// Where it was pushed (`REGISTRY/REPOSITORY:TAG`), if it was.
    pub pushed: Vec<String>,
}

impl ImageRecord {
    /// The record beside image layout `layout` (its folder's `image.json`).
    pub fn path_for(layout: &Path) -> PathBuf {
        layout.parent().unwrap_or(Path::new(".")).join("image.json")
    }

    fn read(path: &Path) -> Result<Option<ImageRecord>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("{} is not an image record", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).on_path("read", path),
        }
    }

    /// Whether this record is of `reference`: pushed there, or (not pushed anywhere) with
    /// the same version as its tag.
    fn describes(&self, reference: &Reference) -> bool {
        let pushed_there = self.pushed.iter().any(|r| {
            Reference::parse(r).is_ok_and(|r| {
                (&r.registry, &r.repository, &r.tag)
                    == (&reference.registry, &reference.repository, &reference.tag)
            })
        });
        let version = self.tag.rsplit_once(':').map(|(_, v)| v);
        pushed_there
            || (self.pushed.is_empty() && version.is_some() && version == reference.tag.as_deref())
    }
}

/// `package --tag NAME:VERSION`.
pub fn package(
    selection: Selection<'_>,
    tag: &str,
    format: Format,
    out: Option<&Path>,
    push: Option<&str>,
    access: &Access,
) -> Result<()> {
    let (_, version) = image::parse_tag(tag)?;
    let target = push
        .map(|text| Reference::with_default_tag(text, version))
        .transpose()?;
    if let Some(target) = target
        .as_ref()
        .filter(|t| !t.is_loopback() && access.insecure)
    {
        eprintln!("warning: pushing to {} over plain HTTP", target.registry);
    }
    let filter = selection.filter()?;
    let module = selection.module(&filter)?;
    let image = image::build(&module.bytes, format)?;
    let mut pushed = Vec::new();
    if let Some(target) = &target {
        let digest = registry::push(&image, target, access)?;
        println!("pushed {target}@{digest}");
        pushed.push(target.to_string());
    }
    let out = out.map_or_else(|| filter.work_dir().join("oci"), Path::to_path_buf);
    image::write_layout(&image, version, &out)?;
    let record = ImageRecord {
        tag: tag.to_owned(),
        digest: image.manifest.digest.clone(),
        format,
        pushed,
    };
    let record_path = ImageRecord::path_for(&out);
    let json = serde_json::to_vec_pretty(&record).context("cannot write the image record")?;
    std::fs::write(&record_path, json).on_path("write", &record_path)?;
    println!("{}:{version} {}", out.display(), image.manifest.digest);
    println!("recorded in {}", record_path.display());
    Ok(())
}

/// What `manifests` needs besides the crate.
#[derive(Debug, Clone, Default)]
pub struct ManifestOptions<'a> {
    /// `oci://REGISTRY/REPOSITORY:TAG` (or `@sha256:...`), as the mesh will pull it.
    pub image: &'a str,
    /// The image's manifest digest, when given (`sha256:HEX` or `HEX`).
    pub digest: Option<&'a str>,
    /// The record `package` wrote (default: the crate's `target/envoy-wasm/CRATE/image.json`).
    pub record: Option<&'a Path>,
    /// The plugin configuration file (JSON or YAML).
    pub config: Option<&'a Path>,
    /// Where to write.
    pub out: Option<&'a Path>,
    /// Where the plugin applies.
    pub scope: manifests::Scope,
    /// How to reach the registry (to learn the digest).
    pub access: Access,
}

/// `manifests --image oci://REF`.
pub fn manifests(selection: Selection<'_>, options: &ManifestOptions<'_>) -> Result<()> {
    let image_ref = options.image;
    if !image_ref.starts_with("oci://") {
        bail!("--image `{image_ref}` must be an OCI reference: oci://REGISTRY/REPOSITORY:TAG");
    }
    let reference = Reference::parse(image_ref)?;
    let filter = selection.filter()?;
    filter.require_cdylib()?;
    let plugin_config = options.config.map(read_config).transpose()?;
    let module = selection.module(&filter)?;
    let kind = module.kind()?;
    options.scope.validate(kind)?;
    if let Some(plugin_config) = &plugin_config {
        if !plugin_config.is_mapping() {
            bail!(
                "the plugin configuration must be an object (Istio's `pluginConfig` is a \
                 Struct); a plugin that takes text or bytes is configured in Envoy directly",
            );
        }
        let json = serde_json::to_value(plugin_config)
            .context("the plugin configuration is not JSON-like")?;
        if let Some(schema) = schema::of_crate(&filter)
            .ok()
            .and_then(|schema| serde_json::from_str::<serde_json::Value>(&schema).ok())
        {
            schema::check(&schema, &json)?;
        }
        check_with_the_filter(&module, &filter.name, &json)?;
    }
    let record_path = options.record.map_or_else(
        || ImageRecord::path_for(&filter.work_dir().join("oci")),
        Path::to_path_buf,
    );
    let digest = digest_of(&reference, options, &record_path)?;
    let out = options
        .out
        .map_or_else(|| filter.work_dir().join("manifests"), Path::to_path_buf);
    let local = |file: &str| -> Result<String> {
        Ok(relative_to(
            &absolute(&out)?,
            &absolute(&filter.work_dir().join(file))?,
        ))
    };
    let local_module = local("plugin.wasm")?;
    let local_library = local(&format!("lib{}.so", filter.lib_name))?;
    let files = manifests::render(&manifests::Plugin {
        name: &filter.name,
        image: image_ref,
        sha256: digest.trim_start_matches("sha256:"),
        config: plugin_config.as_ref(),
        local_module: &local_module,
        local_library: &local_library,
        kind,
        scope: &options.scope,
    })?;
    write_all_or_nothing(&out, &files)?;
    println!(
        "{} (sha256 {})",
        out.display(),
        digest.trim_start_matches("sha256:")
    );
    Ok(())
}

/// Runs the filter's own `configure` on `config`, in the emulator's VM with the module
/// built for the mesh: a configuration the filter would refuse at load is refused here,
/// naming the same field, before any manifest is written.
fn check_with_the_filter(module: &Module, name: &str, config: &serde_json::Value) -> Result<()> {
    let json = serde_json::to_string(config).context("the plugin configuration is not JSON")?;
    let path = module.path.clone();
    let name = name.to_owned();
    // The emulator keeps its host per thread; a thread of its own keeps this one clean,
    // with the stack the interpreter needs (it nests the module's calls into the host).
    let outcome = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let envoy = envoy_wasm_sdk::testing::Emulator::try_from_wasm(&path)?;
            envoy
                .add_plugin(&name, &json)
                .map(|_| ())
                .map_err(|failed| {
                    // The reason as the filter gave it (`field `x`: ...`), else what it logged.
                    failed
                        .error
                        .as_ref()
                        .map_or_else(|| failed.to_string(), ToString::to_string)
                })
        })
        .context("cannot start the check of the configuration")?
        .join()
        .map_err(|_| anyhow!("checking the configuration with the filter failed"))?;
    outcome.map_err(|reason| {
        anyhow!("the filter refuses this configuration (as Envoy would at load): {reason}")
    })
}

/// The digest of the image the mesh will pull: the reference's own, `--digest`, the
/// registry's answer for the tag, or the record `package` wrote; never a rebuild. The
/// registry's answer wins, and one that differs from another source is an error.
fn digest_of(
    reference: &Reference,
    options: &ManifestOptions<'_>,
    record_path: &Path,
) -> Result<String> {
    let normalize = |digest: &str| {
        let hex = digest.trim_start_matches("sha256:");
        if hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            Ok(format!("sha256:{hex}"))
        } else {
            Err(anyhow!(
                "`{digest}` is not a sha256 digest (64 lower-case hex digits)"
            ))
        }
    };
    let given = match (options.digest, reference.digest.as_deref()) {
        (Some(flag), Some(in_ref)) if normalize(flag)? != normalize(in_ref)? => {
            bail!("--digest {flag} and the image's own digest {in_ref} differ");
        }
        (Some(digest), _) | (None, Some(digest)) => Some(normalize(digest)?),
        (None, None) => None,
    };
    let record = ImageRecord::read(record_path)?.filter(|r| r.describes(reference));
    let registry = registry::manifest_digest(reference, &options.access);
    match registry {
        Ok(Some(served)) => {
            if let Some(given) = given.filter(|g| *g != served) {
                bail!("the registry serves {served} for {reference}, not {given}");
            }
            if let Some(record) = record.filter(|r| r.digest != served) {
                bail!(
                    "package recorded {} for {reference} ({}), but the registry serves {served}: \
                     the tag moved since; push again, or pass --digest",
                    record.digest,
                    record_path.display()
                );
            }
            Ok(served)
        }
        Ok(None) => given.ok_or_else(|| {
            anyhow!(
                "{reference} is not in the registry: push it first (`cargo envoy-wasm package \
                 --push`), or pass --digest for an image pushed later"
            )
        }),
        Err(unreachable) => {
            let Some(known) = given.or(record.map(|r| r.digest)) else {
                return Err(unreachable.context(format!(
                    "cannot learn the digest of {reference}; pass --digest, or run `cargo \
                     envoy-wasm package` first (it records the digest)"
                )));
            };
            eprintln!(
                "note: the registry did not answer ({unreachable:#}); using {known}, recorded \
                 or given"
            );
            Ok(known)
        }
    }
}

/// `test [-- ARGS]`: builds the module as shipped (release, `wasm-opt`), then runs the
/// crate's tests, whose wasm runs (`#[emulator_test]`'s `*_on_wasm`) load that module.
pub fn test(selection: Selection<'_>, args: &[String]) -> Result<()> {
    let filter = selection.filter()?;
    let module = wasm::build(&filter)?;
    let module_path = absolute(&module.path)?;
    println!(
        "{} {} bytes: the wasm runs load it",
        module_path.display(),
        module.bytes.len()
    );
    let status = std::process::Command::new(crate::project::cargo())
        .arg("test")
        .args(["--package", &filter.name])
        .arg("--manifest-path")
        .arg(filter.workspace_root.join("Cargo.toml"))
        .args(args)
        .env(envoy_wasm_sdk::testing::SHIPPED_MODULE, &module_path)
        .env(envoy_wasm_sdk::testing::SHIPPED_CRATE, &filter.name)
        .status()
        .context("cannot run cargo test")?;
    if !status.success() {
        bail!("the tests of `{}` failed", filter.name);
    }
    Ok(())
}

/// `run`: see [`crate::run`].
pub fn run(selection: Selection<'_>, options: &crate::run::RunOptions) -> Result<()> {
    if selection.wasm.is_some() {
        bail!("--wasm names a module to use; `run` builds the crate (and rebuilds it on change)");
    }
    crate::run::run(&selection.filter()?, options)
}

/// `schema`.
pub fn schema(selection: Selection<'_>) -> Result<()> {
    println!("{}", schema::of_crate(&selection.filter()?)?);
    Ok(())
}

/// A plugin configuration file, JSON or YAML.
pub(crate) fn read_config(path: &Path) -> Result<serde_norway::Value> {
    let text = std::fs::read_to_string(path).on_path("read", path)?;
    serde_norway::from_str(&text)
        .with_context(|| format!("{} is neither JSON nor YAML", path.display()))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).on_path("resolve", path)
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
