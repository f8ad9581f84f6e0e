//! Talking to an image registry over the OCI distribution API: pushing an image, and asking
//! which manifest a tag names.
//!
//! A push sends the blobs first (`HEAD` to skip those the registry has, else `POST` an upload
//! and `PUT` the bytes with their digest), then the manifest under its tag. A registry that
//! asks for credentials (`401`) gets them the way Docker finds them: see [`Access`] and the
//! credential lookup below (`credHelpers`, `credsStore`, `auths` of `config.json`), with a
//! `Basic` challenge answered directly and a `Bearer` challenge through the registry's token
//! service. Docker Hub (`docker.io/...`) is reached at its real endpoint,
//! `registry-1.docker.io`, with `library/` before one-word repositories.
//!
//! HTTPS is used, verified against Mozilla's roots plus any [`Access::ca_certificate`].
//! Plain HTTP is used when asked for ([`Access::insecure`]), and for a registry on loopback
//! unless it turns out to speak HTTPS (a test registry with its own CA, say).

use crate::image::Image;
use crate::{Error, PathContext as _, Result};
use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use oci_spec::distribution::ErrorResponse;
use std::ffi::OsString;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Plain HTTP to a registry that is not on loopback. (A registry on loopback gets plain
    /// HTTP anyway, unless it answers that it speaks HTTPS.)
    pub insecure: bool,
    /// Extra CA certificates (PEM file) to trust for HTTPS, e.g. a private registry's CA;
    /// trusted in addition to the usual public roots.
    pub ca_certificate: Option<PathBuf>,
    /// For tests and tooling: the Docker configuration folder (holding `config.json`) to
    /// read credentials from, instead of `$DOCKER_CONFIG` or `~/.docker`.
    pub docker_config: Option<PathBuf>,
    /// For tests and tooling: the search path (as in `$PATH`) for `docker-credential-*`
    /// helpers, also given to them as their `PATH`, instead of this process's `$PATH`.
    pub helper_path: Option<OsString>,
}

/// An image in a registry: `REGISTRY/REPOSITORY[:TAG][@DIGEST]`, with a tag, a digest or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as written (`docker.io` stays `docker.io`; requests go to its endpoint).
    pub registry: String,
    /// `path/to/repo`, in lower case (`library/NAME` for a one-word Docker Hub repository).
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The manifest digest, `sha256:<64 hex>`, if any.
    pub digest: Option<String>,
}

/// The names Docker Hub goes by in references.
const DOCKER_HUB_NAMES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// Where Docker Hub's distribution API is.
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";
/// The server URL Docker stores Docker Hub's credentials under (and asks helpers for).
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";
/// What a manifest request accepts: OCI and Docker manifests and indexes.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

impl Reference {
    /// `[oci://]REGISTRY/REPOSITORY:TAG`, `...@sha256:HEX`, or `...:TAG@sha256:HEX`; a
    /// reference with neither tag nor digest is refused.
    pub fn parse(text: &str) -> Result<Reference> {
        parse_reference(text, None)
    }

    /// Like [`Reference::parse`], but a reference with neither tag nor digest gets `tag`
    /// (what `package --push` does: it pushes `:VERSION`).
    pub fn with_default_tag(text: &str, tag: &str) -> Result<Reference> {
        parse_reference(text, Some(tag))
    }

    /// Whether the registry is on this machine (`localhost`, `127.x.x.x`, `[::1]`).
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => &self.registry,
        };
        host.eq_ignore_ascii_case("localhost") || host.starts_with("127.") || host == "[::1]"
    }

    /// What the tag or digest is written after in requests: the tag when there is one.
    fn target(&self) -> &str {
        self.tag
            .as_deref()
            .or(self.digest.as_deref())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn parse_reference(text: &str, default_tag: Option<&str>) -> Result<Reference> {
    let bare = text.strip_prefix("oci://").unwrap_or(text);
    let (name, digest) = match bare.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (bare, None),
    };
    if let Some(digest) = digest.filter(|d| !is_digest(d)) {
        bail!(
            "`{text}` has the malformed digest `{digest}`: write @sha256: and 64 lower-case hex digits"
        );
    }
    let Some((registry, rest)) = name.split_once('/').filter(|(r, _)| is_registry(r)) else {
        bail!(
            "`{text}` names no registry: write REGISTRY/REPOSITORY:TAG \
             (docker.io/REPOSITORY:TAG for Docker Hub)"
        );
    };
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
        _ => (rest, None),
    };
    if !is_repository(repository) {
        bail!(
            "`{text}` has the invalid repository `{repository}`: use lower-case letters, \
             digits and . _ - between slashes"
        );
    }
    if let Some(tag) = tag.filter(|t| !is_tag(t)) {
        bail!(
            "`{text}` has the invalid tag `{tag}`: up to 128 letters, digits, _ . - \
             (not starting with . or -)"
        );
    }
    let tag = match (tag, digest, default_tag) {
        (None, None, Some(default)) if is_tag(default) => Some(default),
        (None, None, Some(default)) => {
            bail!("`{default}` is not a valid tag for `{text}`: up to 128 letters, digits, _ . -");
        }
        (None, None, None) => {
            bail!("`{text}` names no image version: add :TAG or @sha256:DIGEST");
        }
        (tag, _, _) => tag,
    };
    let repository = if is_docker_hub(registry) && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_string()
    };
    Ok(Reference {
        registry: registry.to_string(),
        repository,
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

/// `sha256:` and 64 lower-case hex digits.
fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// A host name with a dot, `localhost`, or any host with a port (Docker's rule for telling
/// a registry from the first part of a Docker Hub repository), or `[IPv6]:port`.
fn is_registry(text: &str) -> bool {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, Some(port)),
        _ => (text, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && (host.contains('.') || host.eq_ignore_ascii_case("localhost") || port.is_some())
    };
    port_ok && host_ok
}

/// Slash-separated parts of lower-case letters, digits and `._-`, each starting and ending
/// with a letter or digit.
fn is_repository(text: &str) -> bool {
    !text.is_empty()
        && text.split('/').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                && part
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        })
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(text: &str) -> bool {
    text.len() <= 128
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Whether `registry` is one of Docker Hub's names.
fn is_docker_hub(registry: &str) -> bool {
    DOCKER_HUB_NAMES
        .iter()
        .any(|name| registry.eq_ignore_ascii_case(name))
}

/// The `host[:port]` that requests for `registry` go to.
fn endpoint(registry: &str) -> &str {
    if is_docker_hub(registry) {
        DOCKER_HUB_ENDPOINT
    } else {
        registry
    }
}

/// The keys of `config.json` that hold `registry`'s credentials, best first.
fn credential_keys(registry: &str) -> Vec<String> {
    if is_docker_hub(registry) {
        [
            DOCKER_HUB_SERVER,
            "index.docker.io",
            "docker.io",
            DOCKER_HUB_ENDPOINT,
        ]
        .map(str::to_string)
        .to_vec()
    } else {
        vec![registry.to_string()]
    }
}

/// The registry host a `config.json` key names (Docker's `ConvertToHostname`: no scheme, no
/// path), lower case, with Docker Hub's names as one.
fn key_host(key: &str) -> String {
    let bare = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = bare.split('/').next().unwrap_or_default();
    if is_docker_hub(host) {
        "index.docker.io".to_string()
    } else {
        host.to_ascii_lowercase()
    }
}

/// The entry of `map` for `registry`: one of its [`credential_keys`] exactly, else any key
/// naming the same host.
fn entry_for<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    registry: &str,
) -> Option<(&'a String, &'a serde_json::Value)> {
    let keys = credential_keys(registry);
    keys.iter()
        .find_map(|key| map.get_key_value(key.as_str()))
        .or_else(|| {
            let host = key_host(registry);
            map.iter().find(|(key, _)| key_host(key) == host)
        })
}

/// Pushes `image` under the reference's tag (a reference must have a tag to be pushed to);
/// returns the manifest digest (`sha256:...`) the registry accepted. A reference that also
/// names a digest must name the image's own.
pub fn push(image: &Image, reference: &Reference, access: &Access) -> Result<String> {
    let Some(tag) = reference.tag.as_deref() else {
        bail!("`{reference}` names no tag to push to: add :TAG");
    };
    if let Some(digest) = reference.digest.as_ref()
        && *digest != image.manifest.digest
    {
        bail!(
            "`{reference}` names the digest {digest}, but the image's digest is {}: drop @DIGEST",
            image.manifest.digest
        );
    }
    let mut session = Session::open(reference, access, Action::Push)?;
    for blob in image.blobs() {
        let url = session.url(&format!("blobs/{}", blob.digest));
        if session.send("HEAD", &url, &[], &[])?.status == 200 {
            continue;
        }
        let start = session.url("blobs/uploads/");
        let answer = session.send("POST", &start, &[], &[])?;
        let location = match (answer.status, answer.location) {
            (202, Some(location)) => location,
            _ => {
                return Err(refused_push(
                    reference,
                    "starting a blob upload",
                    answer.status,
                    &answer.body,
                ));
            }
        };
        let upload = resolve(&session.base, &location);
        let separator = if upload.contains('?') { '&' } else { '?' };
        let url = format!("{upload}{separator}digest={}", blob.digest);
        let content_type = [("Content-Type", "application/octet-stream")];
        let answer = session.send("PUT", &url, &content_type, &blob.bytes)?;
        if answer.status != 201 {
            return Err(refused_push(
                reference,
                &format!("blob {}", blob.digest),
                answer.status,
                &answer.body,
            ));
        }
    }
    let url = session.url(&format!("manifests/{tag}"));
    let content_type = [("Content-Type", image.manifest.media_type)];
    let answer = session.send("PUT", &url, &content_type, &image.manifest.bytes)?;
    if answer.status != 201 {
        return Err(refused_push(
            reference,
            "the manifest",
            answer.status,
            &answer.body,
        ));
    }
    match answer.digest {
        Some(stored) if stored != image.manifest.digest => Err(anyhow!(
            "the registry {} stored the manifest of {reference} as {stored}, not as the image's \
             digest {} (it changed the manifest): use a registry that stores manifests as pushed",
            reference.registry,
            image.manifest.digest
        )),
        _ => Ok(image.manifest.digest.clone()),
    }
}

/// The digest (`sha256:...`) of the manifest the registry serves for the reference's tag:
/// `HEAD /v2/<repo>/manifests/<tag>` accepting OCI and Docker manifests and indexes, read
/// from `Docker-Content-Digest`, else the sha256 of the manifest a `GET` returns. `Ok(None)`
/// when the registry answers 404 (no such tag or repository); an error when the registry
/// cannot be reached or refuses. For a reference with only a digest, checks that the
/// registry has that manifest and returns the digest.
pub fn manifest_digest(reference: &Reference, access: &Access) -> Result<Option<String>> {
    let mut session = Session::open(reference, access, Action::Pull)?;
    let url = session.url(&format!("manifests/{}", reference.target()));
    let accept = [("Accept", MANIFEST_ACCEPT)];
    let answer = session.send("HEAD", &url, &accept, &[])?;
    match answer.status {
        200 => {}
        404 => return Ok(None),
        status => return Err(refused_lookup(reference, status, &answer.body)),
    }
    if reference.tag.is_none() {
        return Ok(reference.digest.clone());
    }
    if let Some(digest) = answer.digest.filter(|d| is_digest(d)) {
        return Ok(Some(digest));
    }
    let answer = session.send("GET", &url, &accept, &[])?;
    match answer.status {
        200 => Ok(Some(crate::image::digest(&answer.body))),
        404 => Ok(None),
        status => Err(refused_lookup(reference, status, &answer.body)),
    }
}

/// `HTTP STATUS`, with the registry's reason from its error body (the distribution spec's
/// `errors[0]`: code and message; else the body's start) when there is one.
fn status_text(status: u16, body: &[u8]) -> String {
    let reason = serde_json::from_slice::<ErrorResponse>(body)
        .ok()
        .and_then(|response| {
            let first = response.errors().first()?;
            Some(match first.message() {
                Some(message) => format!("{} {message}", first.code()),
                None => first.code().to_string(),
            })
        })
        .unwrap_or_else(|| {
            String::from_utf8_lossy(body)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(200)
                .collect()
        });
    if reason.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {reason}")
    }
}

fn refused_push(reference: &Reference, what: &str, status: u16, body: &[u8]) -> Error {
    anyhow!(
        "the registry {} refused the push of {what} to {reference}: {}",
        reference.registry,
        status_text(status, body)
    )
}

fn refused_lookup(reference: &Reference, status: u16, body: &[u8]) -> Error {
    anyhow!(
        "the registry {} refused to look up the manifest of {reference}: {}",
        reference.registry,
        status_text(status, body)
    )
}

fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

/// What a session may do, and so the token scope it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Pull,
    Push,
}

/// The token scope for `action` on `repository`.
fn scope(repository: &str, action: Action) -> String {
    let actions = match action {
        Action::Pull => "pull",
        Action::Push => "pull,push",
    };
    format!("repository:{repository}:{actions}")
}

/// A registry's answer: status, the headers used here, and the body.
struct Answer {
    status: u16,
    location: Option<String>,
    digest: Option<String>,
    challenge: Option<String>,
    body: Vec<u8>,
}

/// Requests to one repository, authenticated once the registry asks.
struct Session<'a> {
    agent: ureq::Agent,
    /// `scheme://host[:port]` of the registry's endpoint.
    base: String,
    /// The registry as written in the reference (for messages and credentials).
    registry: &'a str,
    repository: &'a str,
    action: Action,
    access: &'a Access,
    authorization: Option<String>,
    /// The credentials found, once looked up.
    credential: Option<Option<Credential>>,
}

impl<'a> Session<'a> {
    fn open(reference: &'a Reference, access: &'a Access, action: Action) -> Result<Session<'a>> {
        let agent = agent(access)?;
        let host = endpoint(&reference.registry);
        let scheme = if access.insecure || (reference.is_loopback() && !speaks_https(&agent, host))
        {
            "http"
        } else {
            "https"
        };
        Ok(Session {
            agent,
            base: format!("{scheme}://{host}"),
            registry: &reference.registry,
            repository: &reference.repository,
            action,
            access,
            authorization: None,
            credential: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repository)
    }

    /// One request; on a `401` authenticates (again) and sends it once more.
    fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer> {
        let answer = self.send_once(method, url, headers, body)?;
        if answer.status != 401 {
            return Ok(answer);
        }
        self.authorization = Some(self.authenticate(answer.challenge.as_deref())?);
        let answer = self.send_once(method, url, headers, body)?;
        if answer.status == 401 {
            return Err(self.unauthorized(&answer.body));
        }
        Ok(answer)
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer> {
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        // Credentials go to the registry only, not to where it may send an upload.
        if let Some(authorization) = self
            .authorization
            .as_ref()
            .filter(|_| url.starts_with(&self.base))
        {
            request = request.header("Authorization", authorization);
        }
        let request = request
            .body(body.to_vec())
            .with_context(|| format!("bad request to {url}"))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|e| self.transport_error(url, e))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut answer = Answer {
            status: response.status().as_u16(),
            location: header("Location"),
            digest: header("Docker-Content-Digest"),
            challenge: header("WWW-Authenticate"),
            body: Vec::new(),
        };
        if method != "HEAD" {
            // Manifests and error bodies are small; more than this is not read.
            let _ = response
                .body_mut()
                .as_reader()
                .take(16 * 1024 * 1024)
                .read_to_end(&mut answer.body);
        }
        Ok(answer)
    }

    fn transport_error(&self, url: &str, error: ureq::Error) -> Error {
        transport_error(self.registry, url, error, self.access)
    }

    /// The credentials for this registry, looked up once.
    fn credential(&mut self) -> Result<Option<Credential>> {
        if self.credential.is_none() {
            self.credential = Some(find_credential(
                self.registry,
                &Environment::of(self.access),
            )?);
        }
        Ok(self.credential.clone().flatten())
    }

    /// The `Authorization` value answering `challenge`.
    fn authenticate(&mut self, challenge: Option<&str>) -> Result<String> {
        let registry = self.registry;
        let Some(challenge) = challenge else {
            bail!("the registry {registry} answered HTTP 401 without saying how to authenticate");
        };
        let credential = self.credential()?;
        let scheme = challenge.split_whitespace().next().unwrap_or_default();
        if scheme.eq_ignore_ascii_case("basic") {
            return match credential.map(|c| c.secret) {
                Some(Secret::Password { username, password }) => {
                    let pair = format!("{username}:{password}");
                    Ok(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    ))
                }
                Some(Secret::IdentityToken { .. }) => Err(anyhow!(
                    "the registry {registry} wants a user name and password, but the stored \
                     credentials are an identity token: run `docker login {registry}` with a password"
                )),
                None => Err(self.no_credentials()),
            };
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            bail!(
                "the registry {registry} asks for `{scheme}` authentication, which is not supported \
                 (Basic and Bearer are)"
            );
        }
        let params = challenge_params(challenge);
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let Some(realm) = param("realm") else {
            bail!("the registry {registry} sent a Bearer challenge without a realm");
        };
        let scope = scope(self.repository, self.action);
        let service = param("service");
        let request = match credential.as_ref().map(|c| &c.secret) {
            // An identity token is an OAuth2 refresh token (what Docker does with one).
            Some(Secret::IdentityToken { token, .. }) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", "cargo-envoy-wasm"),
                    ("scope", scope.as_str()),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                ureq::http::Request::post(realm)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form_encode(&form).into_bytes())
            }
            Some(Secret::Password { username, password }) => {
                let pair = format!("{username}:{password}");
                ureq::http::Request::get(token_url(realm, service, &scope))
                    .header(
                        "Authorization",
                        format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(pair)
                        ),
                    )
                    .body(Vec::new())
            }
            None => ureq::http::Request::get(token_url(realm, service, &scope)).body(Vec::new()),
        }
        .with_context(|| format!("bad token request to {realm}"))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|e| transport_error(registry, realm, e, self.access))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(1024 * 1024)
            .read_to_end(&mut body);
        match (status, &credential) {
            (200, _) => {}
            (401 | 403, Some(credential)) => {
                bail!(
                    "the token service {realm} of the registry {registry} refused the credentials \
                     of `{}` from {} (HTTP {status}): check them, e.g. `docker login {registry}`",
                    credential.user(),
                    credential.source
                );
            }
            (401 | 403, None) => return Err(self.no_credentials()),
            _ => {
                bail!(
                    "the token service {realm} of the registry {registry} answered {}",
                    status_text(status, &body)
                );
            }
        }
        let token: serde_json::Value = serde_json::from_slice(&body).with_context(|| {
            format!("the token service {realm} of the registry {registry} answered no JSON")
        })?;
        token["token"]
            .as_str()
            .or_else(|| token["access_token"].as_str())
            .filter(|t| !t.is_empty())
            .map(|t| format!("Bearer {t}"))
            .ok_or_else(|| {
                anyhow!("the token service {realm} of the registry {registry} gave no token")
            })
    }

    /// The error for a `401` that authenticating did not cure.
    fn unauthorized(&self, body: &[u8]) -> Error {
        let registry = self.registry;
        match self.credential.clone().flatten() {
            Some(credential) => anyhow!(
                "the registry {registry} refused the credentials of `{}` from {} for {} \
                 ({}): check them, e.g. `docker login {registry}`",
                credential.user(),
                credential.source,
                self.repository,
                status_text(401, body)
            ),
            None => self.no_credentials(),
        }
    }

    fn no_credentials(&self) -> Error {
        let registry = self.registry;
        let config = Environment::of(self.access).config_file().map_or_else(
            || "no Docker config".to_string(),
            |f| f.display().to_string(),
        );
        anyhow!(
            "the registry {registry} wants a login for {} and {config} has no credentials for it: \
             run `docker login {registry}`",
            self.repository
        )
    }
}

/// An HTTP agent trusting the public roots plus `access.ca_certificate`.
fn agent(access: &Access) -> Result<ureq::Agent> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)));
    if let Some(path) = &access.ca_certificate {
        let pem = std::fs::read(path).on_path("read the CA certificate", path)?;
        let mut extra = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(certificate)) => extra.push(certificate),
                Ok(_) => {}
                Err(e) => {
                    return Err(Error::new(e).context(format!(
                        "the CA certificate {} is not valid PEM",
                        path.display()
                    )));
                }
            }
        }
        if extra.is_empty() {
            bail!(
                "the CA certificate file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            );
        }
        // ureq takes either its built-in roots or a list: the list is the same Mozilla
        // roots (as certificates, from webpki-root-certs) and the extra ones.
        let roots: Vec<ureq::tls::Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()))
            .chain(extra)
            .collect();
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
                .build(),
        );
    }
    Ok(config.build().into())
}

/// Whether the server at `host` (on loopback) speaks HTTPS: a plain `GET /v2/` to it gets
/// the answer TLS servers give plain HTTP (`400` "... HTTP request to an HTTPS server",
/// "plain HTTP request was sent to HTTPS port"), or no HTTP answer at all.
fn speaks_https(agent: &ureq::Agent, host: &str) -> bool {
    match agent.get(format!("http://{host}/v2/")).call() {
        Ok(mut response) => {
            response.status() == 400
                && response
                    .body_mut()
                    .read_to_string()
                    .is_ok_and(|body| body.to_ascii_lowercase().contains("https"))
        }
        Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => false,
        Err(_) => true,
    }
}

/// A request that got no answer, as the cause of what it means here: a certificate this
/// machine does not trust (and what to pass), or no registry at `url`.
fn transport_error(registry: &str, url: &str, error: ureq::Error, access: &Access) -> Error {
    let certificate = error
        .to_string()
        .to_ascii_lowercase()
        .contains("certificate");
    let meaning = match (&access.ca_certificate, certificate) {
        (None, true) => format!(
            "cannot verify the TLS certificate of the registry {registry} (if a private CA \
             signed it, pass that CA's certificate with --ca-cert FILE)"
        ),
        (Some(ca), true) => format!(
            "cannot verify the TLS certificate of the registry {registry}, even trusting {} \
             (check that --ca-cert names the CA that signed it)",
            ca.display()
        ),
        (_, false) => format!("cannot reach the registry {registry} at {url}"),
    };
    Error::new(error).context(meaning)
}

/// `realm?service=...&scope=...`.
fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut query = Vec::new();
    if let Some(service) = service {
        query.push(("service", service));
    }
    query.push(("scope", scope));
    let separator = if realm.contains('?') { '&' } else { '?' };
    format!("{realm}{separator}{}", form_encode(&query))
}

/// `application/x-www-form-urlencoded` (also a URL's query).
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `key="value"` pairs of a `WWW-Authenticate` challenge.
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge.split_once(' ').map_or("", |(_, rest)| rest);
    let mut params = Vec::new();
    let mut remaining = rest.trim();
    while let Some((key, after)) = remaining.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.push((key, value.to_string()));
        remaining = next.trim_start_matches(',').trim();
    }
    params
}

// Credentials, found the way Docker finds them.
//
// The `docker_credential` crate (1.4) was considered and not used: it reads `$DOCKER_CONFIG`
// and runs helpers with this process's `PATH` only (so the lookup cannot be pointed at
// another folder or path without changing the process's environment, which tests running
// in parallel threads must not do), it treats a helper's "credentials not found" as an
// error, it does not try a helper with both `host` and `https://host`, and it reads `auths`
// before `credsStore`, unlike Docker. The helper protocol is small, so it is here instead.

/// A secret for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Secret {
    /// A user name and password (`Basic`, or the token service's password grant).
    Password { username: String, password: String },
    /// An identity token: an OAuth2 refresh token for the token service.
    IdentityToken {
        username: Option<String>,
        token: String,
    },
}

/// A secret and where it was found (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Credential {
    secret: Secret,
    source: String,
}

impl Credential {
    fn user(&self) -> &str {
        match &self.secret {
            Secret::Password { username, .. } => username,
            Secret::IdentityToken { username, .. } => {
                username.as_deref().unwrap_or("<identity token>")
            }
        }
    }
}

/// Where the lookup reads: the Docker config folder and the helpers' search path.
#[derive(Debug, Clone)]
struct Environment {
    config_dir: Option<PathBuf>,
    path: Option<OsString>,
}

impl Environment {
    /// `access`'s overrides, else `$DOCKER_CONFIG` (or `~/.docker`) and `$PATH`.
    fn of(access: &Access) -> Environment {
        let config_dir = access.docker_config.clone().or_else(|| {
            std::env::var_os("DOCKER_CONFIG")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
        });
        let path = access
            .helper_path
            .clone()
            .or_else(|| std::env::var_os("PATH"));
        Environment { config_dir, path }
    }

    fn config_file(&self) -> Option<PathBuf> {
        self.config_dir.as_ref().map(|d| d.join("config.json"))
    }
}

/// The credentials for `registry`: from its helper in `credHelpers`, else from the default
/// helper `credsStore`, else from `auths` (`auth`, `username`/`password`, `identitytoken`).
/// A helper that has none (says "credentials not found") lets the lookup go on.
fn find_credential(registry: &str, env: &Environment) -> Result<Option<Credential>> {
    let Some(file) = env.config_file() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).on_path("read", &file),
    };
    let config: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not valid JSON (fix it to reach the registry {registry})",
            file.display()
        )
    })?;
    let empty = serde_json::Map::new();
    let auths = config["auths"].as_object().unwrap_or(&empty);
    let auth_entry = entry_for(auths, registry);
    let helper = config["credHelpers"]
        .as_object()
        .and_then(|helpers| entry_for(helpers, registry))
        .and_then(|(key, name)| Some((key.as_str(), name.as_str()?)))
        .filter(|(_, name)| !name.is_empty())
        .map(|(key, name)| (Some(key), name, "credHelpers"));
    let store = config["credsStore"]
        .as_str()
        .filter(|name| !name.is_empty())
        .map(|name| (auth_entry.map(|(key, _)| key.as_str()), name, "credsStore"));
    if let Some((key, name, field)) = helper.or(store) {
        for server in helper_servers(registry, key) {
            if let Some(secret) = ask_helper(name, &server, env, registry, &file, field)? {
                return Ok(Some(Credential {
                    secret,
                    source: format!("the credential helper docker-credential-{name}"),
                }));
            }
        }
    }
    let Some((key, entry)) = auth_entry else {
        return Ok(None);
    };
    let source = format!("auths.\"{key}\" in {}", file.display());
    let field = |name: &str| entry[name].as_str().filter(|v| !v.is_empty());
    let decoded = match field("auth") {
        Some(auth) => Some(decode_auth(auth).ok_or_else(|| {
            anyhow!("{source} is not base64 of USER:PASSWORD: run `docker login {registry}` again")
        })?),
        None => None,
    };
    let username = decoded
        .as_ref()
        .map(|(u, _)| u.clone())
        .or_else(|| field("username").map(str::to_string));
    let secret = if let Some(token) = field("identitytoken") {
        Secret::IdentityToken {
            username,
            token: token.to_string(),
        }
    } else if let Some((username, password)) = decoded {
        Secret::Password { username, password }
    } else if let (Some(username), Some(password)) = (field("username"), field("password")) {
        Secret::Password {
            username: username.to_string(),
            password: password.to_string(),
        }
    } else {
        return Ok(None);
    };
    Ok(Some(Credential { secret, source }))
}

/// `user:password` from base64 (with or without padding).
fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(auth.trim()))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The server URLs to ask a helper for, in order: Docker Hub's `https://index.docker.io/v1/`;
/// otherwise the key as written in `config.json` (or the registry), then the other of the
/// `host` and `https://host` forms.
fn helper_servers(registry: &str, written: Option<&str>) -> Vec<String> {
    if is_docker_hub(registry) {
        return vec![DOCKER_HUB_SERVER.to_string()];
    }
    let first = written.unwrap_or(registry).to_string();
    let bare = first
        .strip_prefix("https://")
        .or_else(|| first.strip_prefix("http://"))
        .map(|rest| rest.trim_end_matches('/').to_string());
    let other = match bare {
        Some(bare) => bare,
        None => format!("https://{first}"),
    };
    if other == first {
        vec![first]
    } else {
        vec![first, other]
    }
}

/// Runs `docker-credential-NAME get` with `server` on its standard input; its secret, or
/// `None` when it has none for that server.
fn ask_helper(
    name: &str,
    server: &str,
    env: &Environment,
    registry: &str,
    config: &Path,
    field: &str,
) -> Result<Option<Secret>> {
    let program = format!("docker-credential-{name}");
    let Some(path) = find_program(&program, env.path.as_deref()) else {
        bail!(
            "the credential helper {program} ({field} in {} for the registry {registry}) is not \
             on PATH: install it, or change {field} in that file",
            config.display()
        );
    };
    let mut command = std::process::Command::new(&path);
    command
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(search) = &env.path {
        command.env("PATH", search);
    }
    let failed = |e: std::io::Error| {
        Error::new(e).context(format!(
            "cannot run the credential helper {} for the registry {registry}",
            path.display()
        ))
    };
    let mut child = spawn(&mut command).map_err(failed)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading has answered anyway.
        let _ = stdin.write_all(server.as_bytes());
    }
    let output = child.wait_with_output().map_err(failed)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if format!("{stdout}{stderr}")
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        let said = stderr
            .lines()
            .chain(stdout.lines())
            .find(|l| !l.trim().is_empty())
            .unwrap_or("nothing");
        bail!(
            "the credential helper {program} failed for the registry {registry} ({}): {}",
            output.status,
            said.trim()
        );
    }
    let answer: serde_json::Value = serde_json::from_str(&stdout).with_context(|| {
        format!("the credential helper {program} answered the registry {registry} with no JSON")
    })?;
    let username = answer["Username"].as_str().unwrap_or_default();
    let secret = answer["Secret"].as_str().unwrap_or_default();
    Ok(match (username, secret) {
        (_, "") => None,
        ("<token>", token) => Some(Secret::IdentityToken {
            username: None,
            token: token.to_string(),
        }),
        (username, password) => Some(Secret::Password {
            username: username.to_string(),
            password: password.to_string(),
        }),
    })
}

/// Spawns `command`, trying again while the program is "text file busy" (just written by a
/// thread of this process while another forked).
fn spawn(command: &mut std::process::Command) -> std::io::Result<std::process::Child> {
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            result => return result,
        }
    }
}

/// The executable `program` in the folders of `search` (a `PATH`).
fn find_program(program: &str, search: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(search?)
        .map(|dir| dir.join(program))
        .find(|path| {
            std::fs::metadata(path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn reference(text: &str) -> Reference {
        Reference::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn parts(r: &Reference) -> (&str, &str, Option<&str>, Option<&str>) {
        (
            &r.registry,
            &r.repository,
            r.tag.as_deref(),
            r.digest.as_deref(),
        )
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_parse_with_tag_digest_or_both() {
        let r = reference("oci://127.0.0.1:5000/filters/hello:1.2");
        assert_eq!(
            parts(&r),
            ("127.0.0.1:5000", "filters/hello", Some("1.2"), None)
        );
        assert!(r.is_loopback());
        assert_eq!(r.to_string(), "127.0.0.1:5000/filters/hello:1.2");

        let r = reference(&format!("registry.example.com/hello@{DIGEST}"));
        assert_eq!(
            parts(&r),
            ("registry.example.com", "hello", None, Some(DIGEST))
        );
        assert!(!r.is_loopback());
        assert_eq!(
            r.to_string(),
            format!("registry.example.com/hello@{DIGEST}")
        );

        let r = reference(&format!("localhost:5000/a/b:v1@{DIGEST}"));
        assert_eq!(
            parts(&r),
            ("localhost:5000", "a/b", Some("v1"), Some(DIGEST))
        );
        assert!(r.is_loopback());
        // Display parses back to the same reference.
        assert_eq!(reference(&r.to_string()), r);
        assert_eq!(reference("[::1]:5000/x:1").registry, "[::1]:5000");
        assert!(reference("[::1]:5000/x:1").is_loopback());
    }

    #[test]
    fn references_without_tag_or_digest_are_refused_unless_defaulted() {
        let error = Reference::parse("registry.example.com/hello").unwrap_err();
        assert!(
            error.to_string().contains("add :TAG or @sha256:DIGEST"),
            "{error}"
        );
        let r = Reference::with_default_tag("registry.example.com/hello", "0.1.0").unwrap();
        assert_eq!(r.tag.as_deref(), Some("0.1.0"));
        // A tag or a digest written wins over the default.
        let r = Reference::with_default_tag("registry.example.com/hello:2", "0.1.0").unwrap();
        assert_eq!(r.tag.as_deref(), Some("2"));
        let r =
            Reference::with_default_tag(&format!("registry.example.com/hello@{DIGEST}"), "0.1.0")
                .unwrap();
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some(DIGEST)));
    }

    #[test]
    fn malformed_references_are_refused() {
        for text in [
            "hello:1",
            "filters/hello:1",
            "host.example/Upper:1",
            "host.example/hello:",
            "host.example/hello:-x",
            "host.example//hello:1",
            "host.example/hello@sha256:abc",
            "host.example/hello@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "host.example/hello@md5:0123",
            "host.example:port/hello:1",
        ] {
            assert!(Reference::parse(text).is_err(), "{text} was accepted");
        }
        let error = Reference::parse("host.example/Upper:1").unwrap_err();
        assert!(error.to_string().contains("lower-case"), "{error}");
    }

    #[test]
    fn docker_hub_references_reach_its_real_endpoint() {
        for name in DOCKER_HUB_NAMES {
            let r = reference(&format!("{name}/nginx:1.27"));
            assert_eq!(r.repository, "library/nginx", "{name}");
            assert_eq!(endpoint(&r.registry), "registry-1.docker.io");
            assert_eq!(
                credential_keys(&r.registry),
                [
                    "https://index.docker.io/v1/",
                    "index.docker.io",
                    "docker.io",
                    "registry-1.docker.io"
                ]
            );
            assert_eq!(helper_servers(&r.registry, None), [DOCKER_HUB_SERVER]);
        }
        let r = reference("docker.io/someone/filter:1");
        assert_eq!(r.repository, "someone/filter");
        assert_eq!(r.to_string(), "docker.io/someone/filter:1");
        assert_eq!(endpoint("quay.io"), "quay.io");
        assert_eq!(endpoint("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(key_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(key_host("registry-1.docker.io"), "index.docker.io");
        assert_eq!(key_host("https://Quay.io"), "quay.io");
    }

    #[test]
    fn token_scopes_ask_push_only_for_pushes() {
        assert_eq!(
            scope("library/nginx", Action::Push),
            "repository:library/nginx:pull,push"
        );
        assert_eq!(
            scope("library/nginx", Action::Pull),
            "repository:library/nginx:pull"
        );
        assert_eq!(
            token_url(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                &scope("library/nginx", Action::Pull)
            ),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fnginx%3Apull"
        );
        assert_eq!(
            token_url("https://auth.example/t?a=b", None, "repository:x:pull,push"),
            "https://auth.example/t?a=b&scope=repository%3Ax%3Apull%2Cpush"
        );
    }

    #[test]
    fn challenges_split_into_params() {
        let params = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            params[0],
            ("realm".into(), "https://auth.example/token".into())
        );
        assert_eq!(params[2], ("scope".into(), "repository:a/b:pull".into()));
    }

    #[test]
    fn helper_servers_try_both_forms() {
        assert_eq!(
            helper_servers("reg.example:5000", None),
            ["reg.example:5000", "https://reg.example:5000"]
        );
        assert_eq!(
            helper_servers("reg.example", Some("https://reg.example")),
            ["https://reg.example", "reg.example"]
        );
    }

    /// A temporary folder, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "cargo-envoy-wasm-registry-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn config(&self, json: serde_json::Value) {
            std::fs::write(self.0.join("config.json"), json.to_string()).unwrap();
        }

        /// `docker-credential-NAME`: answers `get` for `server` with `user`/`secret`, else
        /// "credentials not found"; logs the servers asked for to `NAME.log`.
        fn helper(&self, name: &str, server: &str, user: &str, secret: &str) {
            use std::os::unix::fs::PermissionsExt as _;
            let log = self.0.join(format!("{name}.log"));
            let script = format!(
                "#!/bin/sh\n\
                 server=$(cat)\n\
                 echo \"$1 $server\" >> '{log}'\n\
                 if [ \"$server\" = '{server}' ]; then\n\
                 printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\n\
                 else echo 'credentials not found in native keychain'; exit 1; fi\n",
                log = log.display()
            );
            let path = self.0.join(format!("docker-credential-{name}"));
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        fn asked(&self, name: &str) -> String {
            std::fs::read_to_string(self.0.join(format!("{name}.log"))).unwrap_or_default()
        }

        fn env(&self) -> Environment {
            Environment {
                config_dir: Some(self.0.clone()),
                // The helpers first, then the system's tools (the scripts use `cat`).
                path: std::env::join_paths(std::iter::once(self.0.clone()).chain(
                    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
                ))
                .ok(),
            }
        }

        fn lookup(&self, registry: &str) -> Option<(String, String)> {
            find_credential(registry, &self.env())
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|c| match c.secret {
                    Secret::Password { username, password } => (username, password),
                    Secret::IdentityToken { username, token } => {
                        (username.unwrap_or_else(|| "<token>".into()), token)
                    }
                })
        }

        /// The error of looking up `registry`'s credentials: a lookup that must fail.
        #[track_caller]
        fn lookup_error(&self, registry: &str) -> String {
            find_credential(registry, &self.env())
                .expect_err("credentials found")
                .to_string()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn basic(user: &str, password: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    }

    fn pair(user: &str, password: &str) -> Option<(String, String)> {
        Some((user.to_string(), password.to_string()))
    }

    #[test]
    fn credentials_come_from_cred_helpers_then_creds_store_then_auths() {
        let dir = Scratch::new();
        let host = "reg.example:5000";
        dir.helper("own", host, "from-own", "own-secret");
        dir.helper("store", host, "from-store", "store-secret");
        let auths = serde_json::json!({ host: { "auth": basic("from-file", "file:secret") } });
        dir.config(serde_json::json!({
            "credHelpers": { host: "own", "other.example": "store" },
            "credsStore": "store",
            "auths": auths,
        }));
        assert_eq!(dir.lookup(host), pair("from-own", "own-secret"));
        assert_eq!(dir.asked("own"), format!("get {host}\n"));
        assert_eq!(dir.asked("store"), "");

        dir.config(serde_json::json!({ "credsStore": "store", "auths": auths }));
        assert_eq!(dir.lookup(host), pair("from-store", "store-secret"));

        // The password may hold colons; only the first one separates.
        dir.config(serde_json::json!({ "auths": auths }));
        assert_eq!(dir.lookup(host), pair("from-file", "file:secret"));

        // A helper without credentials for the registry lets the lookup go on.
        dir.config(serde_json::json!({ "credsStore": "store", "auths": auths }));
        assert_eq!(dir.lookup("elsewhere.example"), None);
        assert_eq!(
            dir.asked("store").lines().skip(1).collect::<Vec<_>>(),
            ["get elsewhere.example", "get https://elsewhere.example"]
        );
        dir.helper("empty", "nothing", "x", "y");
        dir.config(serde_json::json!({ "credHelpers": { host: "empty" }, "auths": auths }));
        assert_eq!(dir.lookup(host), pair("from-file", "file:secret"));
    }

    #[test]
    fn helpers_are_asked_for_the_key_as_written_then_the_other_form() {
        let dir = Scratch::new();
        dir.helper("https", "https://reg.example", "u", "p");
        dir.config(serde_json::json!({ "credHelpers": { "reg.example": "https" } }));
        assert_eq!(dir.lookup("reg.example"), pair("u", "p"));
        assert_eq!(
            dir.asked("https"),
            "get reg.example\nget https://reg.example\n"
        );
        // Docker Hub: the helper gets Docker's server URL, whatever the reference says.
        dir.helper("hub", DOCKER_HUB_SERVER, "hubuser", "hubpass");
        dir.config(serde_json::json!({ "credsStore": "hub" }));
        assert_eq!(dir.lookup("docker.io"), pair("hubuser", "hubpass"));
        // `<token>` means the secret is an identity token.
        dir.helper("token", "reg.example", "<token>", "refresh-me");
        dir.config(serde_json::json!({ "credsStore": "token" }));
        let found = find_credential("reg.example", &dir.env()).unwrap().unwrap();
        assert_eq!(
            found.secret,
            Secret::IdentityToken {
                username: None,
                token: "refresh-me".into()
            }
        );
        assert_eq!(
            found.source,
            "the credential helper docker-credential-token"
        );
    }

    #[test]
    fn auths_entries_are_matched_like_docker() {
        let dir = Scratch::new();
        dir.config(serde_json::json!({ "auths": {
            "https://index.docker.io/v1/": { "auth": basic("hub", "pw") },
            "https://quay.io": { "username": "q", "password": "qpw" },
            "tokens.example": { "auth": basic("t", ""), "identitytoken": "id-token" },
            "empty.example": {},
        }}));
        for hub in DOCKER_HUB_NAMES {
            assert_eq!(dir.lookup(hub), pair("hub", "pw"), "{hub}");
        }
        assert_eq!(dir.lookup("quay.io"), pair("q", "qpw"));
        assert_eq!(dir.lookup("tokens.example"), pair("t", "id-token"));
        let found = find_credential("tokens.example", &dir.env())
            .unwrap()
            .unwrap();
        assert!(matches!(found.secret, Secret::IdentityToken { .. }));
        assert_eq!(dir.lookup("empty.example"), None);
        assert_eq!(dir.lookup("unknown.example"), None);
        // No config at all is no credentials, not an error.
        std::fs::remove_file(dir.0.join("config.json")).unwrap();
        assert_eq!(dir.lookup("quay.io"), None);
    }

    #[test]
    fn a_missing_or_failing_helper_is_an_error_naming_the_registry() {
        let dir = Scratch::new();
        dir.config(serde_json::json!({ "credHelpers": { "reg.example": "absent" } }));
        let error = dir.lookup_error("reg.example");
        assert!(
            error.contains("docker-credential-absent") && error.contains("reg.example"),
            "{error}"
        );
        {
            use std::os::unix::fs::PermissionsExt as _;
            let path = dir.0.join("docker-credential-broken");
            std::fs::write(&path, "#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir.config(serde_json::json!({ "credsStore": "broken" }));
        let error = dir.lookup_error("reg.example");
        assert!(
            error.contains("keychain locked") && error.contains("reg.example"),
            "{error}"
        );
        std::fs::write(dir.0.join("config.json"), "{ not json").unwrap();
        assert!(find_credential("reg.example", &dir.env()).is_err());
    }
}
