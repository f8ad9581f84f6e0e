//! OCI images of a filter module, and the image layout on disk.
//!
//! Two formats, both read by Istio's image fetcher:
//! - [`Format::Compat`]: an ordinary OCI image with one `tar+gzip` layer holding
//!   `plugin.wasm`; the config's `rootfs.diff_ids` names the uncompressed tar. Istio tries
//!   this one first, and `skopeo`/`umoci` handle it like any image.
//! - [`Format::Artifact`]: the Wasm artifact, a config of type
//!   `application/vnd.module.wasm.config.v1+json` and the module itself as the one layer
//!   `application/vnd.module.wasm.content.layer.v1+wasm`.
//!
//! Images are reproducible: no timestamps, fixed file metadata, fixed JSON field order, so
//! the same module always gives the same manifest digest.

use crate::{Error, Result};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
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
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// How the module is laid out in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// One `tar+gzip` layer holding `plugin.wasm`.
    Compat,
    /// The two-part Wasm artifact (config and raw module).
    Artifact,
}

impl Format {
    /// Parses `compat` or `artifact`.
    pub fn parse(name: &str) -> Result<Format> {
        match name {
            "compat" => Ok(Format::Compat),
            "artifact" => Ok(Format::Artifact),
            other => Err(Error::new(format!(
                "unknown image format `{other}`: expected `compat` or `artifact`"
            ))),
        }
    }
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

    fn descriptor(&self, annotations: Option<BTreeMap<String, String>>) -> Descriptor {
        Descriptor {
            media_type: self.media_type,
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            annotations,
        }
    }
}

/// An image: its manifest, config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest; its digest is the image's digest.
    pub manifest: Blob,
    /// The config.
    pub config: Blob,
    /// The layers (one in both formats).
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: &'static str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
struct ImageConfig {
    architecture: &'static str,
    os: &'static str,
    config: BTreeMap<String, String>,
    rootfs: RootFs,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

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
    let (config, layer, layer_annotations) = match format {
        Format::Compat => {
            let tar = tar_of_module(module)?;
            // `os` says where the image unpacks (umoci unpacks only `linux` images); the
            // architecture says what the content is.
            let config = ImageConfig {
                architecture: "wasm",
                os: "linux",
                config: BTreeMap::new(),
                rootfs: RootFs {
                    kind: "layers",
                    diff_ids: vec![digest(&tar)],
                },
            };
            (
                Blob::new(IMAGE_CONFIG_MEDIA_TYPE, to_json(&config)),
                Blob::new(TAR_GZIP_LAYER_MEDIA_TYPE, gzip(&tar)?),
                None,
            )
        }
        Format::Artifact => {
            let config = WasmConfig {
                abi_versions: vec!["proxy_abi_version_0_2_1"],
            };
            let title = BTreeMap::from([(
                "org.opencontainers.image.title".to_string(),
                MODULE_FILE.to_string(),
            )]);
            (
                Blob::new(WASM_CONFIG_MEDIA_TYPE, to_json(&config)),
                Blob::new(WASM_LAYER_MEDIA_TYPE, module.to_vec()),
                Some(title),
            )
        }
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE,
        config: config.descriptor(None),
        layers: vec![layer.descriptor(layer_annotations)],
    };
    Ok(Image {
        manifest: Blob::new(MANIFEST_MEDIA_TYPE, to_json(&manifest)),
        config,
        layers: vec![layer],
    })
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
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
        .map_err(|e| Error::new(format!("cannot write the layer's tar: {e}")))
}

/// Gzip with a zero timestamp and no file name, so the bytes depend on the input only.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| Error::new(format!("cannot compress the layer: {e}")))
}

/// Writes `image` as an OCI image layout in `dir`, tagged `tag` (the `ref.name` annotation in
/// `index.json`). The layout is assembled next to `dir` and moved into place at the end, so
/// a failure leaves `dir` as it was.
pub fn write_layout(image: &Image, tag: &str, dir: &Path) -> Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    let written = fill_layout(image, tag, &staging).and_then(|()| {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io("replace", dir, e))?;
        }
        std::fs::rename(&staging, dir).map_err(|e| Error::io("write", dir, e))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written
}

fn fill_layout(image: &Image, tag: &str, dir: &Path) -> Result<()> {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io("create", &blobs, e))?;
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
    };
    for blob in std::iter::once(&image.manifest).chain(image.blobs()) {
        write(
            &blobs.join(blob.digest.trim_start_matches("sha256:")),
            &blob.bytes,
        )?;
    }
    write(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [image.manifest.descriptor(Some(BTreeMap::from([(
            REF_NAME_ANNOTATION.to_string(),
            tag.to_string(),
        )])))],
    });
    write(&dir.join("index.json"), &to_json(&index))
}

/// `NAME:VERSION` split in two; both parts must be there.
pub fn parse_tag(tag: &str) -> Result<(&str, &str)> {
    match tag.rsplit_once(':') {
        Some((name, version))
            if !name.is_empty() && !version.is_empty() && !version.contains('/') =>
        {
            Ok((name, version))
        }
        _ => Err(Error::new(format!(
            "--tag `{tag}` has no version: write it as NAME:VERSION (for example my_filter:0.1.0)"
        ))),
    }
}
