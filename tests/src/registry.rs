//! A real OCI registry (the CNCF distribution registry, Debian's `docker-registry`) on a
//! free loopback port, with its storage in a temporary folder; stopped on drop. It can
//! serve HTTPS with a certificate from its own CA ([`Registry::start_tls`]) and ask for a
//! login ([`Registry::start_with_htpasswd`]).

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a registry is set up.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Read-only maintenance mode: every push is refused.
    pub read_only: bool,
    /// HTTPS with a server certificate for `127.0.0.1` and `localhost`, signed by a CA made
    /// for this registry ([`Registry::ca_certificate`]).
    pub tls: bool,
    /// A login (`htpasswd` authentication, `Basic`): this user name and password only.
    pub login: Option<(String, String)>,
}

/// A running registry.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    ca_certificate: Option<PathBuf>,
}

impl Registry {
    /// Starts a registry that accepts pushes.
    pub fn start() -> Registry {
        Registry::start_with(&RegistryOptions::default())
    }

    /// Starts a registry in read-only maintenance mode: every push is refused.
    pub fn start_read_only() -> Registry {
        Registry::start_with(&RegistryOptions {
            read_only: true,
            ..RegistryOptions::default()
        })
    }

    /// Starts a registry serving HTTPS only, with a certificate signed by its own CA: the PEM
    /// file [`Registry::ca_certificate`] names.
    pub fn start_tls() -> Registry {
        Registry::start_with(&RegistryOptions {
            tls: true,
            ..RegistryOptions::default()
        })
    }

    /// Starts a registry (plain HTTP) that lets in only `user` with `password` (`Basic`).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Registry::start_with(&RegistryOptions {
            login: Some((user.to_string(), password.to_string())),
            ..RegistryOptions::default()
        })
    }

    /// Starts a registry set up as `options` say.
    pub fn start_with(options: &RegistryOptions) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\n\
             log: {{ level: warn }}\n\
             storage:\n  filesystem: {{ rootdirectory: {storage} }}\n  \
             maintenance: {{ readonly: {{ enabled: {read_only} }} }}\n",
            storage = dir.path().join("storage").display(),
            read_only = options.read_only,
        );
        let mut ca_certificate = None;
        if options.tls {
            let (ca, certificate, key) = tls_files(dir.path());
            config.push_str(&format!(
                "http:\n  addr: \"127.0.0.1:{port}\"\n  \
                 tls: {{ certificate: {}, key: {} }}\n",
                certificate.display(),
                key.display()
            ));
            ca_certificate = Some(ca);
        } else {
            config.push_str(&format!("http: {{ addr: \"127.0.0.1:{port}\" }}\n"));
        }
        if let Some((user, password)) = &options.login {
            let htpasswd = dir.path().join("htpasswd");
            // Cost 4, the least bcrypt allows: the registry checks it on every request.
            let hash = bcrypt::hash(password, 4).expect("bcrypt hash");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd: {{ realm: envoy-tests, path: {} }}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        let mut command = Command::new(registry_binary());
        command
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        // SAFETY: prctl only marks this child to be killed when the test process dies.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start docker-registry (scripts/setup.sh installs it): {e}")
        });
        let registry = Registry {
            child,
            dir,
            port,
            ca_certificate,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            // This client speaks no TLS: an HTTPS registry is ready once it accepts.
            let ready = if self.ca_certificate.is_some() {
                TcpStream::connect(self.address()).is_ok()
            } else {
                client
                    .get(format!("http://{}/v2/", self.address()))
                    .send()
                    .is_ok_and(|r| r.status() == 200 || r.status() == 401)
            };
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry did not start:\n{}", self.log());
    }

    /// The PEM file of the CA that signed an HTTPS registry's certificate.
    pub fn ca_certificate(&self) -> Option<&Path> {
        self.ca_certificate.as_deref()
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry_binary() -> String {
    // Debian installs the binary as docker-registry; upstream builds call it registry.
    ["docker-registry", "registry"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or("docker-registry")
        .to_string()
}

/// A CA, and a server certificate for `127.0.0.1` and `localhost` that it signed, written
/// into `dir`: (CA certificate, server certificate, server key), all PEM.
fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "envoy-tests registry CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("server params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().expect("server key");
    let certificate = params.signed_by(&key, &issuer).expect("server certificate");
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    );
    for (path, pem) in [
        (&paths.0, ca.pem()),
        (&paths.1, certificate.pem()),
        (&paths.2, key.serialize_pem()),
    ] {
        std::fs::write(path, pem).expect("write TLS file");
    }
    paths
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
