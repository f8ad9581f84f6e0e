//! Pushing to and looking up in a real registry (`docker-registry`) through the CLI's
//! library: credentials the way Docker finds them (credential helpers, `credsStore`,
//! `auths`), HTTPS with a private CA, and manifest digests by tag and by digest.
//!
//! Each test points the credential lookup at its own Docker config folder and helper path
//! ([`Access::docker_config`], [`Access::helper_path`]): tests run in parallel threads, so
//! none changes this process's environment.

use cargo_envoy_wasm::image::{self, Format, Image};
use cargo_envoy_wasm::registry::{Access, Reference, manifest_digest, push};
use envoy_tests::{Registry, free_port};
use serde_json::json;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

const USER: &str = "filter-publisher";
const PASSWORD: &str = "s3cret:with-colon";
/// `USER:PASSWORD` in base64, as `docker login` stores it in `auths`.
const BASE64_LOGIN: &str = "ZmlsdGVyLXB1Ymxpc2hlcjpzM2NyZXQ6d2l0aC1jb2xvbg==";

/// An image of a small module; `seed` makes its digest its own.
fn image(seed: &str) -> Image {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    // A custom section carrying `seed`: id 0, size, name length, name.
    module.extend([0, seed.len() as u8 + 1, seed.len() as u8]);
    module.extend(seed.as_bytes());
    image::build(&module, Format::Compat).expect("image")
}

fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A Docker config folder with helper scripts, for one test.
struct Docker {
    dir: tempfile::TempDir,
}

impl Docker {
    fn new(config: serde_json::Value) -> Docker {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config");
        Docker { dir }
    }

    /// `docker-credential-NAME`: answers `get` for `server` with `user` and `secret` (the
    /// JSON a helper writes), and "credentials not found" (exit 1) for anything else; logs
    /// each request as `ARG SERVER` to `NAME.log`.
    fn helper(&self, name: &str, server: &str, user: &str, secret: &str) -> &Docker {
        let log = self.dir.path().join(format!("{name}.log"));
        let answer = json!({ "ServerURL": server, "Username": user, "Secret": secret });
        let script = format!(
            "#!/bin/sh\n\
             server=$(cat)\n\
             echo \"$1 $server\" >> '{log}'\n\
             if [ \"$1\" = get ] && [ \"$server\" = '{server}' ]; then\n\
               echo '{answer}'\n\
             else\n\
               echo 'credentials not found in native keychain'\n\
               exit 1\n\
             fi\n",
            log = log.display()
        );
        let path = self.dir.path().join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).expect("helper script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        self
    }

    /// What the helper `name` was asked.
    fn asked(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Access using this config, with the helpers' folder before the system's `PATH`.
    fn access(&self) -> Access {
        let system = std::env::var_os("PATH").unwrap_or_default();
        let path: OsString = std::env::join_paths(
            std::iter::once(self.dir.path().to_path_buf()).chain(std::env::split_paths(&system)),
        )
        .expect("PATH");
        Access {
            docker_config: Some(self.dir.path().to_path_buf()),
            helper_path: Some(path),
            ..Access::default()
        }
    }
}

/// Pushes a fresh image to `registry` with `access`, then checks the registry serves it.
fn push_and_check(registry: &Registry, access: &Access, name: &str) {
    let image = image(name);
    let target = reference(&format!("{}/filters/{name}:0.1.0", registry.address()));
    let pushed = push(&image, &target, access).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pushed, image.manifest.digest);
    assert_eq!(
        manifest_digest(&target, access).unwrap_or_else(|e| panic!("{e}")),
        Some(pushed)
    );
}

/// The error of pushing `image` to `target` with `access`: a push that must fail.
#[track_caller]
fn push_error(image: &Image, target: &Reference, access: &Access) -> String {
    push(image, target, access)
        .expect_err("the push went through")
        .to_string()
}

#[test]
fn a_push_logs_in_with_the_registrys_credential_helper() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let address = registry.address();
    let docker = Docker::new(json!({
        "credHelpers": { &address: "teststub" },
        // The registry's own helper comes before the default store and auths.
        "credsStore": "missing-store",
        "auths": { &address: { "auth": "bm90OnRoaXM=" } },
    }));
    docker.helper("teststub", &address, USER, PASSWORD);
    push_and_check(&registry, &docker.access(), "helper");
    // Docker's protocol: `get`, with the server as written in config.json on stdin.
    assert!(
        docker
            .asked("teststub")
            .lines()
            .all(|line| line == format!("get {address}")),
        "{}",
        docker.asked("teststub")
    );
}

#[test]
fn a_push_logs_in_with_the_default_credential_store() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let address = registry.address();
    // The store knows the registry as https://HOST only: asked for HOST first, it has
    // nothing, and the lookup tries the other form.
    let docker = Docker::new(json!({ "credsStore": "teststub" }));
    docker.helper("teststub", &format!("https://{address}"), USER, PASSWORD);
    push_and_check(&registry, &docker.access(), "store");
    let asked = docker.asked("teststub");
    assert_eq!(
        asked.lines().take(2).collect::<Vec<_>>(),
        [format!("get {address}"), format!("get https://{address}")],
    );
}

#[test]
fn a_push_logs_in_with_auths_of_config_json() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let address = registry.address();
    let docker = Docker::new(
        json!({ "auths": { format!("http://{address}/v2/"): { "auth": BASE64_LOGIN } } }),
    );
    push_and_check(&registry, &docker.access(), "auth-field");
    let docker =
        Docker::new(json!({ "auths": { &address: { "username": USER, "password": PASSWORD } } }));
    push_and_check(&registry, &docker.access(), "user-fields");
}

#[test]
fn wrong_or_missing_credentials_fail_naming_the_registry() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let address = registry.address();
    let target = reference(&format!("{address}/filters/denied:0.1.0"));
    let image = image("denied");

    let docker = Docker::new(json!({ "credHelpers": { &address: "teststub" } }));
    docker.helper("teststub", &address, USER, "wrong-password");
    let error = push_error(&image, &target, &docker.access());
    let refused = format!("the registry {address} refused the credentials of `{USER}`");
    assert!(
        error.contains(&refused) && error.contains("docker-credential-teststub"),
        "{error}"
    );
    let error = manifest_digest(&target, &docker.access())
        .expect_err("a wrong password looked up")
        .to_string();
    assert!(error.contains(&address), "{error}");

    let docker = Docker::new(json!({}));
    let error = push_error(&image, &target, &docker.access());
    assert!(
        error.contains(&format!("the registry {address} wants a login"))
            && error.contains(&format!("docker login {address}")),
        "{error}"
    );

    let docker = Docker::new(json!({ "credHelpers": { &address: "not-installed" } }));
    let error = push_error(&image, &target, &docker.access());
    assert!(
        error.contains("docker-credential-not-installed") && error.contains(&address),
        "{error}"
    );
}

#[test]
fn manifest_digests_come_by_tag_and_by_digest() {
    let registry = Registry::start();
    let address = registry.address();
    let access = Access::default();
    let image = image("lookup");
    let tagged = reference(&format!("{address}/filters/lookup:1.0"));
    let pushed = push(&image, &tagged, &access).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        manifest_digest(&tagged, &access).unwrap(),
        Some(pushed.clone())
    );
    let missing_tag = reference(&format!("{address}/filters/lookup:2.0"));
    assert_eq!(manifest_digest(&missing_tag, &access).unwrap(), None);
    let missing_repository = reference(&format!("{address}/filters/nothing:1.0"));
    assert_eq!(manifest_digest(&missing_repository, &access).unwrap(), None);

    let by_digest = reference(&format!("{address}/filters/lookup@{pushed}"));
    assert_eq!(
        manifest_digest(&by_digest, &access).unwrap(),
        Some(pushed.clone())
    );
    let other = image_digest_not_pushed();
    let unknown = reference(&format!("{address}/filters/lookup@{other}"));
    assert_eq!(manifest_digest(&unknown, &access).unwrap(), None);

    // Tag and digest: the tag's digest, pushable when the digest is the image's own.
    let both = reference(&format!("{address}/filters/lookup:1.1@{pushed}"));
    assert_eq!(push(&image, &both, &access).unwrap(), pushed);
    assert_eq!(
        manifest_digest(&both, &access).unwrap(),
        Some(pushed.clone())
    );
    let wrong = reference(&format!("{address}/filters/lookup:1.2@{other}"));
    assert!(push(&image, &wrong, &access).is_err());
    // A digest alone is no tag to push to.
    let error = push_error(&image, &by_digest, &access);
    assert!(error.contains("add :TAG"), "{error}");
}

fn image_digest_not_pushed() -> String {
    image("never pushed").manifest.digest
}

#[test]
fn an_unreachable_registry_is_an_error_not_a_missing_tag() {
    let target = reference(&format!("127.0.0.1:{}/filters/x:1", free_port()));
    let error = manifest_digest(&target, &Access::default())
        .expect_err("nothing listens there")
        .to_string();
    assert!(
        error.contains("cannot reach the registry 127.0.0.1:"),
        "{error}"
    );
}

#[test]
fn https_registries_with_a_private_ca_need_its_certificate() {
    let registry = Registry::start_tls();
    let address = registry.address();
    let ca = registry.ca_certificate().expect("CA").to_path_buf();
    let target = reference(&format!("{address}/filters/tls:0.1.0"));
    let image = image("tls");

    let error = push_error(&image, &target, &Access::default());
    assert!(
        error.contains(&format!("TLS certificate of the registry {address}"))
            && error.contains("--ca-cert"),
        "{error}"
    );

    let access = Access {
        ca_certificate: Some(ca.clone()),
        ..Access::default()
    };
    push_and_check(&registry, &access, "tls");

    // A CA file that holds no certificate is refused before any request.
    let not_pem = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(not_pem.path(), "not a certificate").expect("write");
    let not_pem_access = Access {
        ca_certificate: Some(not_pem.path().to_path_buf()),
        ..Access::default()
    };
    let error = push_error(&image, &target, &not_pem_access);
    assert!(error.contains("holds no PEM certificate"), "{error}");
    assert!(Path::new(&ca).exists());
}

/// A registry that wants `Bearer` tokens from its own token service (as Docker Hub, GHCR,
/// Harbor do), to prove the token flow: the scopes asked for, a password sent to the token
/// service, an identity token used as a refresh token. It keeps manifests in memory, serves
/// no `Docker-Content-Digest` on `HEAD` (so a lookup computes the digest), and can be told to
/// claim a wrong digest for a pushed manifest.
mod token_registry {
    use sha2::Digest as _;
    use std::collections::HashMap;
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    pub const IDENTITY_TOKEN: &str = "refresh-me";

    #[derive(Default)]
    pub struct State {
        /// Each token request: `METHOD QUERY-OR-FORM | AUTHORIZATION`.
        pub token_requests: Vec<String>,
        /// Tokens issued, and whether each allows pushing.
        issued: HashMap<String, bool>,
        manifests: HashMap<String, Vec<u8>>,
        /// Answer a manifest push with this digest instead of the real one.
        pub claimed_digest: Option<String>,
    }

    pub struct TokenRegistry {
        pub address: String,
        pub state: Arc<Mutex<State>>,
    }

    struct Request {
        method: String,
        target: String,
        headers: HashMap<String, String>,
        body: Vec<u8>,
    }

    impl TokenRegistry {
        /// Serves until the test process ends; only `USER` with `PASSWORD` gets push tokens.
        pub fn start() -> TokenRegistry {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let address = listener.local_addr().expect("address").to_string();
            let state = Arc::new(Mutex::new(State::default()));
            let login = format!("Basic {}", super::BASE64_LOGIN);
            let (served, at) = (state.clone(), address.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (state, at, login) = (served.clone(), at.clone(), login.clone());
                    std::thread::spawn(move || serve(stream, &state, &at, &login));
                }
            });
            TokenRegistry { address, state }
        }
    }

    fn read_request(stream: &TcpStream) -> Option<Request> {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).ok()?;
            let Some((name, value)) = header.trim_end().split_once(':') else {
                break;
            };
            headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
        }
        let length = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some(Request {
            method,
            target,
            headers,
            body,
        })
    }

    fn serve(mut stream: TcpStream, state: &Mutex<State>, address: &str, login: &str) {
        let Some(request) = read_request(&stream) else {
            return;
        };
        let (status, headers, body) = answer(&request, &mut state.lock().unwrap(), address, login);
        let mut response = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
        for (name, value) in headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        let body = if request.method == "HEAD" {
            Vec::new()
        } else {
            body
        };
        response.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let _ = stream.write_all(response.as_bytes());
        let _ = stream.write_all(&body);
    }

    type Reply = (u16, Vec<(&'static str, String)>, Vec<u8>);

    fn answer(request: &Request, state: &mut State, address: &str, login: &str) -> Reply {
        let authorization = request
            .headers
            .get("authorization")
            .cloned()
            .unwrap_or_default();
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((&request.target, ""));
        if path == "/token" {
            let asked = if request.method == "POST" {
                String::from_utf8_lossy(&request.body).into_owned()
            } else {
                query.to_string()
            };
            state
                .token_requests
                .push(format!("{} {asked} | {authorization}", request.method));
            let pushes = asked.contains("push");
            let allowed = match request.method.as_str() {
                "POST" => asked.contains(&format!("refresh_token={IDENTITY_TOKEN}")),
                _ => authorization == login || (authorization.is_empty() && !pushes),
            };
            if !allowed {
                return (401, vec![], br#"{"details":"bad login"}"#.to_vec());
            }
            let token = format!("token-{}", state.issued.len());
            state.issued.insert(token.clone(), pushes);
            let body = serde_json::json!({ "token": token, "access_token": token });
            return (200, vec![], body.to_string().into_bytes());
        }
        let token = authorization.strip_prefix("Bearer ").unwrap_or_default();
        let writes = !matches!(request.method.as_str(), "GET" | "HEAD");
        let authorized = state
            .issued
            .get(token)
            .is_some_and(|&pushes| pushes || !writes);
        if !authorized {
            // The challenge names a pull scope: a pusher must ask for more itself.
            let challenge = format!(
                r#"Bearer realm="http://{address}/token",service="fake",scope="repository:filters/bearer:pull""#
            );
            return (401, vec![("WWW-Authenticate", challenge)], Vec::new());
        }
        let parts: Vec<&str> = path.trim_start_matches("/v2/").split('/').collect();
        match (request.method.as_str(), parts.as_slice()) {
            ("GET", [""]) => (200, vec![], Vec::new()),
            ("HEAD", [.., "blobs", _]) => (404, vec![], Vec::new()),
            ("POST", [.., "blobs", "uploads", ""]) => (
                202,
                vec![(
                    "Location",
                    format!("{}/upload-1", path.trim_end_matches('/')),
                )],
                Vec::new(),
            ),
            ("PUT", [.., "uploads", _]) => (201, vec![], Vec::new()),
            ("PUT", [.., "manifests", tag]) => {
                let digest = state.claimed_digest.clone().unwrap_or_else(|| {
                    let hex: String = sha2::Sha256::digest(&request.body)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    format!("sha256:{hex}")
                });
                state
                    .manifests
                    .insert(tag.to_string(), request.body.clone());
                (201, vec![("Docker-Content-Digest", digest)], Vec::new())
            }
            ("HEAD" | "GET", [.., "manifests", tag]) => match state.manifests.get(*tag) {
                Some(manifest) => (200, vec![], manifest.clone()),
                None => (404, vec![], Vec::new()),
            },
            _ => (400, vec![], b"unexpected request".to_vec()),
        }
    }
}

#[test]
fn bearer_tokens_ask_for_push_only_when_pushing() {
    use token_registry::TokenRegistry;
    let registry = TokenRegistry::start();
    let address = &registry.address;
    let docker = Docker::new(json!({ "auths": { address: { "auth": BASE64_LOGIN } } }));
    let image = image("bearer");
    let target = reference(&format!("{address}/filters/bearer:1.0"));
    let pushed = push(&image, &target, &docker.access()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pushed, image.manifest.digest);
    // The registry sends no digest on HEAD: the lookup hashes the manifest it gets.
    assert_eq!(
        manifest_digest(&target, &docker.access()).unwrap_or_else(|e| panic!("{e}")),
        Some(pushed)
    );
    let requests = registry.state.lock().unwrap().token_requests.clone();
    let basic = format!("Basic {BASE64_LOGIN}");
    assert_eq!(
        requests,
        [
            format!("GET service=fake&scope=repository%3Afilters%2Fbearer%3Apull%2Cpush | {basic}"),
            format!("GET service=fake&scope=repository%3Afilters%2Fbearer%3Apull | {basic}"),
        ]
    );
}

#[test]
fn an_identity_token_is_a_refresh_token_for_the_token_service() {
    use token_registry::{IDENTITY_TOKEN, TokenRegistry};
    let registry = TokenRegistry::start();
    let address = &registry.address;
    let docker = Docker::new(json!({ "credHelpers": { address: "teststub" } }));
    docker.helper("teststub", address, "<token>", IDENTITY_TOKEN);
    let image = image("identity");
    let target = reference(&format!("{address}/filters/bearer:1.0"));
    push(&image, &target, &docker.access()).unwrap_or_else(|e| panic!("{e}"));
    let requests = registry.state.lock().unwrap().token_requests.clone();
    assert_eq!(
        requests,
        [format!(
            "POST grant_type=refresh_token&refresh_token={IDENTITY_TOKEN}&client_id=cargo-envoy-wasm\
             &scope=repository%3Afilters%2Fbearer%3Apull%2Cpush&service=fake | "
        )]
    );
}

#[test]
fn bearer_registries_refuse_anonymous_pushes_and_wrong_digests() {
    use token_registry::TokenRegistry;
    let registry = TokenRegistry::start();
    let address = &registry.address;
    let image = image("anonymous");
    let target = reference(&format!("{address}/filters/bearer:1.0"));
    // Anonymous pulls get a token; an anonymous push does not.
    let nobody = Docker::new(json!({}));
    assert_eq!(manifest_digest(&target, &nobody.access()).unwrap(), None);
    let error = push_error(&image, &target, &nobody.access());
    assert!(
        error.contains(&format!("the registry {address} wants a login"))
            && error.contains(&format!("docker login {address}")),
        "{error}"
    );
    // A wrong password: the token service refuses it, and the error says where it came from.
    let wrong =
        Docker::new(json!({ "auths": { address: { "username": USER, "password": "no" } } }));
    let error = push_error(&image, &target, &wrong.access());
    let refused = format!("of the registry {address} refused the credentials of `{USER}`");
    assert!(
        error.contains(&refused) && error.contains("auths."),
        "{error}"
    );
    // A registry that stores the manifest under another digest than the image's.
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    registry.state.lock().unwrap().claimed_digest = Some(other.to_string());
    let docker = Docker::new(json!({ "auths": { address: { "auth": BASE64_LOGIN } } }));
    let error = push_error(&image, &target, &docker.access());
    assert!(
        error.contains(other) && error.contains(&image.manifest.digest),
        "{error}"
    );
}
