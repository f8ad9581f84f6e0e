//! OCI images of a filter module, and the image layout on disk.
//!
//! Two formats, both read by Istio's image fetcher (`pkg/wasm/imagefetcher.go`, which
//! tries them in this order):
//! - [`Format::Compat`]: an ordinary OCI image with one `tar+gzip` layer holding
//!   `plugin.wasm`; the config's `rootfs.diff_ids` names the uncompressed tar. `skopeo`
//!   and `umoci` handle it like any image.
//! - [`Format::Artifact`]: the Wasm artifact of Solo's Wasm image spec, as Istio reads it:
//!   a config of type `application/vnd.module.wasm.config.v1+json` and exactly two layers,
//!   the module itself (`application/vnd.module.wasm.content.layer.v1+wasm`) and the same
//!   config again as a layer. `skopeo inspect --raw` reads it; `skopeo inspect` and
//!   `umoci` refuse it (they know image configs only).
//!
//! Images are reproducible: no timestamps, fixed file metadata, fixed JSON field order, so
//! the same module always gives the same manifest digest.

use crate::{PathContext as _, Result};
use anyhow::{Context as _, anyhow};
use oci_spec::image::{
    ANNOTATION_REF_NAME, ANNOTATION_TITLE, Arch, Config, Descriptor, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, OciLayoutBuilder, Os, RootFsBuilder,
};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

/// The media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The media type of an OCI image config.
pub const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The media type of a gzip-compressed tar layer.
pub const TAR_GZIP_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The Wasm artifact's config media type.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.module.wasm.config.v1+json";
/// The Wasm artifact's module layer media type.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// The file in a compat image's layer that holds the module (what Istio's agent extracts).
pub const MODULE_FILE: &str = "plugin.wasm";
/// The annotation in `index.json` that names a manifest's tag.
pub const REF_NAME_ANNOTATION: &str = ANNOTATION_REF_NAME;
/// The `schemaVersion` of OCI manifests and indexes.
const SCHEMA_VERSION: u32 = 2;

/// How the module is laid out in the image.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// One `tar+gzip` layer holding `plugin.wasm` (read by Istio, skopeo and umoci).
    Compat,
    /// The Wasm artifact: the raw module and its config as two layers (read by Istio).
    Artifact,
}

/// A content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Its media type.
    pub media_type: &'static str,
    /// `sha256:HEX`.
    pub digest: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Blob {
    fn new(media_type: &'static str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type,
            digest: digest(&bytes),
            bytes,
        }
    }

    /// Its OCI descriptor (media type, digest, size), with `annotations`.
    fn descriptor(&self, annotations: Option<HashMap<String, String>>) -> Result<Descriptor> {
        let digest: oci_spec::image::Digest = self
            .digest
            .parse()
            .with_context(|| format!("`{}` is not a digest", self.digest))?;
        let mut descriptor =
            Descriptor::new(self.media_type.into(), self.bytes.len() as u64, digest);
        descriptor.set_annotations(annotations);
        Ok(descriptor)
    }
}

/// An image: its manifest, config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest; its digest is the image's digest.
    pub manifest: Blob,
    /// The config.
    pub config: Blob,
    /// The layers: one for compat, two for the artifact.
    pub layers: Vec<Blob>,
}

impl Image {
    /// The manifest digest without `sha256:`: what a `WasmPlugin`'s `sha256` holds.
    pub fn digest_hex(&self) -> &str {
        self.manifest.digest.trim_start_matches("sha256:")
    }

    /// Every blob the manifest refers to, config first.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

/// The Wasm artifact's config (Solo's Wasm image spec; not an OCI type).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig {
    abi_versions: Vec<&'static str>,
}

/// `sha256:HEX` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut text = String::with_capacity(71);
    text.push_str("sha256:");
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// The image of `module` in `format`.
pub fn build(module: &[u8], format: Format) -> Result<Image> {
    let (config, layer, layer_annotations, config_layer) = match format {
        Format::Compat => {
            let tar = tar_of_module(module)?;
            // `os` says where the image unpacks (umoci unpacks only `linux` images); the
            // architecture says what the content is.
            let config = ImageConfigurationBuilder::default()
                .architecture(Arch::Wasm)
                .os(Os::Linux)
                .config(Config::default())
                .rootfs(
                    RootFsBuilder::default()
                        .diff_ids(vec![digest(&tar)])
                        .build()
                        .context("cannot describe the layer")?,
                )
                .build()
                .context("cannot describe the image config")?;
            (
                Blob::new(IMAGE_CONFIG_MEDIA_TYPE, to_json(&config)?),
                Blob::new(TAR_GZIP_LAYER_MEDIA_TYPE, gzip(&tar)?),
                None,
                None,
            )
        }
        Format::Artifact => {
            let config = WasmConfig {
                abi_versions: vec!["proxy_abi_version_0_2_1"],
            };
            let title = HashMap::from([(ANNOTATION_TITLE.to_string(), MODULE_FILE.to_string())]);
            let config = Blob::new(WASM_CONFIG_MEDIA_TYPE, to_json(&config)?);
            (
                config.clone(),
                Blob::new(WASM_LAYER_MEDIA_TYPE, module.to_vec()),
                Some(title),
                // Istio's fetcher wants exactly two layers: the module, and the config.
                Some(config),
            )
        }
    };
    let mut descriptors = vec![layer.descriptor(layer_annotations)?];
    if let Some(config_layer) = &config_layer {
        descriptors.push(config_layer.descriptor(None)?);
    }
    let manifest = ImageManifestBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageManifest)
        .config(config.descriptor(None)?)
        .layers(descriptors)
        .build()
        .context("cannot describe the image manifest")?;
    let mut layers = vec![layer];
    layers.extend(config_layer);
    Ok(Image {
        manifest: Blob::new(MANIFEST_MEDIA_TYPE, to_json(&manifest)?),
        config,
        layers,
    })
}

/// Compact JSON, fields in the order the types declare them (so the bytes are stable).
fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).context("cannot write an image's JSON")
}

/// A tar holding `plugin.wasm` with fixed metadata (mode 0644, owner 0, mtime 0).
fn tar_of_module(module: &[u8]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(module.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, MODULE_FILE, module)
        .and_then(|()| builder.into_inner())
        .context("cannot write the layer's tar")
}

/// Gzip with a zero timestamp and no file name, so the bytes depend on the input only.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .context("cannot compress the layer")
}

/// Writes `image` as an OCI image layout in `dir`, tagged `tag` (the `ref.name` annotation in
/// `index.json`). The layout is assembled next to `dir` and moved into place at the end, so
/// a failure leaves `dir` as it was.
pub fn write_layout(image: &Image, tag: &str, dir: &Path) -> Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).on_path("create", parent)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    let written = fill_layout(image, tag, &staging).and_then(|()| {
        if dir.exists() {
            std::fs::remove_dir_all(dir).on_path("replace", dir)?;
        }
        std::fs::rename(&staging, dir).on_path("write", dir)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written
}

fn fill_layout(image: &Image, tag: &str, dir: &Path) -> Result<()> {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).on_path("create", &blobs)?;
    let write = |path: &Path, bytes: &[u8]| std::fs::write(path, bytes).on_path("write", path);
    for blob in std::iter::once(&image.manifest).chain(image.blobs()) {
        write(
            &blobs.join(blob.digest.trim_start_matches("sha256:")),
            &blob.bytes,
        )?;
    }
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()
        .context("cannot describe the image layout")?;
    write(&dir.join("oci-layout"), &to_json(&layout)?)?;
    let tagged = image.manifest.descriptor(Some(HashMap::from([(
        ANNOTATION_REF_NAME.to_string(),
        tag.to_string(),
    )])))?;
    let index = ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![tagged])
        .build()
        .context("cannot describe the image index")?;
    write(&dir.join("index.json"), &to_json(&index)?)
}

/// `NAME:VERSION` split in two; both parts must be there.
pub fn parse_tag(tag: &str) -> Result<(&str, &str)> {
    match tag.rsplit_once(':') {
        Some((name, version))
            if !name.is_empty() && !version.is_empty() && !version.contains('/') =>
        {
            Ok((name, version))
        }
        _ => Err(anyhow!(
            "--tag `{tag}` has no version: write it as NAME:VERSION (for example my_filter:0.1.0)"
        )),
    }
}
