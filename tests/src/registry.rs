//! A real OCI registry (the CNCF distribution registry, Debian's `docker-registry`) on a
//! free loopback port, with its storage in a temporary folder; stopped on drop.

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Registry {
    /// Starts a registry that accepts pushes.
    pub fn start() -> Registry {
        Registry::start_with(false)
    }

    /// Starts a registry in read-only maintenance mode: every push is refused.
    pub fn start_read_only() -> Registry {
        Registry::start_with(true)
    }

    fn start_with(read_only: bool) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = format!(
            "version: 0.1\n\
             log: {{ level: warn }}\n\
             storage:\n  filesystem: {{ rootdirectory: {storage} }}\n  \
             maintenance: {{ readonly: {{ enabled: {read_only} }} }}\n\
             http: {{ addr: \"127.0.0.1:{port}\" }}\n",
            storage = dir.path().join("storage").display(),
        );
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
        let registry = Registry { child, dir, port };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if client
                .get(format!("http://{}/v2/", self.address()))
                .send()
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry did not start:\n{}", self.log());
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

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
