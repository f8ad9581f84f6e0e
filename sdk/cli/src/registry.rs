//! Pushing an image to a registry over the OCI distribution API.
//!
//! Blobs go up first (`HEAD` to skip those the registry has, else `POST` an upload and
//! `PUT` the bytes with their digest), then the manifest under its tag. A registry that
//! asks for a token (`401` with a `Bearer` challenge) gets one from its token service,
//! with the credentials `docker login` stored in `~/.docker/config.json` when there are
//! any. Plain HTTP is used only for a registry on loopback, or when asked for
//! (`insecure`).

use crate::image::Image;
use crate::{Error, Result};
use base64::Engine as _;
use std::io::Read as _;

/// Where an image goes: `REGISTRY/REPOSITORY:TAG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    /// `path/to/repo`.
    pub repository: String,
    /// The tag.
    pub tag: String,
}

impl Reference {
    /// Parses `[oci://]REGISTRY/REPOSITORY[:TAG]`; a missing tag is `default_tag`.
    pub fn parse(text: &str, default_tag: &str) -> Result<Reference> {
        let bare = text.strip_prefix("oci://").unwrap_or(text);
        let (registry, rest) = bare.split_once('/').ok_or_else(|| {
            Error::new(format!(
                "`{text}` names no registry: write REGISTRY/REPOSITORY[:TAG]"
            ))
        })?;
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => (rest, default_tag),
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        if registry.is_empty() || !valid_repo {
            return Err(Error::new(format!(
                "`{text}` is not an image reference: REGISTRY/REPOSITORY[:TAG], repository in lower case"
            )));
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.to_string(),
        })
    }

    /// Whether the registry is on this machine (`localhost`, `127.x.x.x`, `[::1]`).
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => &self.registry,
        };
        host == "localhost" || host.starts_with("127.") || host == "[::1]"
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// Pushes `image` to `reference`; returns the manifest digest the registry reported.
pub fn push(image: &Image, reference: &Reference, insecure: bool) -> Result<String> {
    let scheme = if reference.is_loopback() || insecure {
        "http"
    } else {
        "https"
    };
    let mut session = Session {
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into(),
        base: format!("{scheme}://{}", reference.registry),
        repository: reference.repository.clone(),
        authorization: None,
    };
    for blob in image.blobs() {
        let url = format!(
            "{}/v2/{}/blobs/{}",
            session.base, session.repository, blob.digest
        );
        if session.send("HEAD", &url, None, &[])?.0 == 200 {
            continue;
        }
        let start = format!("{}/v2/{}/blobs/uploads/", session.base, session.repository);
        let (status, location, body) = session.send("POST", &start, None, &[])?;
        let location = match (status, location) {
            (202, Some(location)) => location,
            _ => return Err(refused(reference, "starting a blob upload", status, &body)),
        };
        let upload = resolve(&session.base, &location);
        let separator = if upload.contains('?') { '&' } else { '?' };
        let url = format!("{upload}{separator}digest={}", blob.digest);
        let (status, _, body) =
            session.send("PUT", &url, Some("application/octet-stream"), &blob.bytes)?;
        if status != 201 {
            return Err(refused(
                reference,
                &format!("blob {}", blob.digest),
                status,
                &body,
            ));
        }
    }
    let url = format!(
        "{}/v2/{}/manifests/{}",
        session.base, session.repository, reference.tag
    );
    let media_type = image.manifest.media_type;
    let (status, _, body) = session.send("PUT", &url, Some(media_type), &image.manifest.bytes)?;
    if status != 201 {
        return Err(refused(reference, "the manifest", status, &body));
    }
    Ok(image.manifest.digest.clone())
}

fn refused(reference: &Reference, what: &str, status: u16, body: &str) -> Error {
    let reason = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let first = &v["errors"][0];
            Some(format!(
                "{} {}",
                first["code"].as_str()?,
                first["message"].as_str()?
            ))
        })
        .unwrap_or_else(|| body.trim().chars().take(200).collect());
    Error::new(format!(
        "the registry {} refused the push of {what} to {reference}: HTTP {status} {reason}",
        reference.registry
    ))
}

fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

struct Session {
    agent: ureq::Agent,
    base: String,
    repository: String,
    authorization: Option<String>,
}

type Answer = (u16, Option<String>, String);

impl Session {
    /// One request; on a first `401` with a challenge, authenticates and sends it again.
    fn send(
        &mut self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Answer> {
        let (answer, challenge) = self.send_once(method, url, content_type, body)?;
        if answer.0 != 401 || self.authorization.is_some() {
            return Ok(answer);
        }
        self.authorization = Some(self.authenticate(answer.0, challenge.as_deref())?);
        Ok(self.send_once(method, url, content_type, body)?.0)
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(Answer, Option<String>)> {
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let request = request
            .body(body.to_vec())
            .map_err(|e| Error::new(format!("bad request to {url}: {e}")))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|e| Error::new(format!("cannot reach the registry at {url}: {e}")))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let location = header("Location");
        let challenge = header("WWW-Authenticate");
        let mut text = String::new();
        if method != "HEAD" {
            let _ = response
                .body_mut()
                .as_reader()
                .take(64 * 1024)
                .read_to_string(&mut text);
        }
        Ok(((status, location, text), challenge))
    }

    /// The `Authorization` value for a `401` carrying `challenge`.
    fn authenticate(&self, status: u16, challenge: Option<&str>) -> Result<String> {
        let host = self.base.split("://").nth(1).unwrap_or_default();
        let basic = docker_credentials(host);
        let Some(challenge) = challenge else {
            return Err(Error::new(format!(
                "the registry {host} answered HTTP {status} without saying how to authenticate"
            )));
        };
        if challenge.to_ascii_lowercase().starts_with("basic") {
            return basic.map(|c| format!("Basic {c}")).ok_or_else(|| {
                Error::new(format!(
                    "the registry {host} wants a login: run `docker login {host}`"
                ))
            });
        }
        let params = challenge_params(challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                Error::new(format!(
                    "the registry {host} sent a challenge without a realm"
                ))
            })?;
        let query: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "service" || k == "scope")
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20")))
            .collect();
        let scope = format!("scope=repository:{}:pull,push", self.repository);
        let query = if query.iter().any(|q| q.starts_with("scope=")) {
            query.join("&")
        } else {
            [query.join("&"), scope].join("&")
        };
        let mut request = self.agent.get(format!("{realm}?{query}"));
        if let Some(basic) = &basic {
            request = request.header("Authorization", &format!("Basic {basic}"));
        }
        let mut response = request
            .call()
            .map_err(|e| Error::new(format!("cannot reach the token service {realm}: {e}")))?;
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| Error::new(format!("the token service {realm} answered: {e}")))?;
        let token: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| Error::new(format!("the token service {realm} answered: {e}")))?;
        token["token"]
            .as_str()
            .or_else(|| token["access_token"].as_str())
            .map(|t| format!("Bearer {t}"))
            .ok_or_else(|| Error::new(format!("the token service {realm} gave no token")))
    }
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

/// `user:password` in base64, as `docker login` stored it for `host`.
fn docker_credentials(host: &str) -> Option<String> {
    let home = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))?;
    let text = std::fs::read_to_string(home.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auths = config["auths"].as_object()?;
    let entry = auths.iter().find(|(key, _)| {
        let key = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        key.split('/').next() == Some(host)
    })?;
    let auth = entry.1["auth"].as_str()?;
    // Stored already encoded; check it decodes to user:password.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    decoded.contains(&b':').then(|| auth.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_and_without_tag() {
        let r = Reference::parse("oci://127.0.0.1:5000/filters/hello:1.2", "x").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "filters/hello", "1.2")
        );
        assert!(r.is_loopback());
        let r = Reference::parse("registry.example.com/hello", "0.1.0").unwrap();
        assert_eq!(r.tag, "0.1.0");
        assert!(!r.is_loopback());
        assert!(Reference::parse("hello", "0.1.0").is_err());
        assert!(Reference::parse("host/Upper", "0.1.0").is_err());
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
}
