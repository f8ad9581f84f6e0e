//! The native target: the same plugin and filter, built as an Envoy dynamic module (a
//! shared library Envoy loads with `envoy.filters.http.dynamic_modules`, or
//! `envoy.filters.network.dynamic_modules` for a network filter; feature `dynamic-module`).
//!
//! Nothing here changes the filter's code. The module exports Envoy's dynamic-module event
//! hooks ([`hooks`] for HTTP filters, [`network`] for network filters), and each hook drives
//! the SDK's runtime as a proxy-wasm host does, through the same guest exports
//! (`proxy_on_configure`, `proxy_on_downstream_data`, ...), with two shortcuts for an HTTP
//! stream. It keeps its binding (its plugin context, its filter) in the object Envoy hands
//! back at each of its hooks, and a phase's hook runs the filter from there through one
//! call typed by its plugin (`RootContext::on_bound_phase`; answers and timers find the
//! stream by id through the host). And the phase's own headers are read and written on
//! Envoy's stream object directly ([`Via`](crate::abi::Via)). The runtime's other host
//! calls reach [`host::NativeHost`], the [`imports::Host`](crate::abi::imports::Host) of
//! each Envoy thread, which answers them with Envoy's dynamic-module callbacks.
//!
//! Each Envoy thread (the main thread and every worker) is one "VM": it has its own
//! dispatcher, plugin contexts and streams, as a wasm VM per worker has in Envoy. A
//! filter configuration is configured on the main thread when Envoy loads it (an `Err`
//! from `Plugin::configure` rejects it there, logged with the field), and again on each
//! worker at its first stream.
//!
//! A hook that runs the filter's code holds the stream's object: if Envoy ends the stream
//! before the hook returns (a local reply from a callout's answer can), `destroy` does the
//! host's part at once and the hook finishes the end when it lets go. A stream's
//! `request.time` is Envoy's own start of the stream, read when asked.
//!
//! A stream's timers (`after`) tick through Envoy's per-stream scheduler, committed from
//! a clock thread ([`ticks`]).
//!
//! A service (a plugin with `NoFilter`) is a bootstrap extension ([`service`]): its plugin
//! context lives on the main thread, its timers are Envoy's main-thread timers, its
//! callouts the extension's, and the queues it registers (process-wide, in the module)
//! wake it through the extension's scheduler, from whichever worker enqueued.
//!
//! What the dynamic-module ABI lacks, or the SDK does not map yet, answers
//! `Unimplemented`, which the SDK turns into an `Err` naming the call: a filter's plugin
//! timers, queue registrations and callouts (that plugin lives on every worker, where the
//! ABI has no timer and nothing to wake it), calls and gRPC streams that are not a
//! stream's (a plugin's, a connection's), foreign functions,
//! and metrics defined after the configuration was loaded (Envoy freezes a dynamic
//! module's stats then). Define metrics in `Plugin::configure`, as the SDK's docs say to
//! anyway.
//!
//! A panic is caught at the hook. As when a wasm VM traps, the stream is answered 503 and
//! every later stream on that thread is too (the panicked code may have left its state
//! half-changed); the panic is logged at `critical` with its message and location.

pub(crate) mod allocator;
mod answers;
mod hooks;
mod host;
mod network;
mod service;
mod ticks;

use crate::abi::dynamic_module::{self as dm, FilterConfigEnvoyPtr, FilterConfigModulePtr};
use crate::runtime::contexts::RootContext;
use hooks::barrier;
use host::NativeHost;
use std::cell::{Cell, RefCell};
use std::ffi::c_char;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The filter crate's `register_plugin`, handed over by `entry!`.
static REGISTER: OnceLock<fn()> = OnceLock::new();

/// `envoy_dynamic_module_on_program_init`, exported by [`entry!`](crate::entry): keeps
/// the crate's registration for each thread, resolves Envoy's callbacks and reports the
/// ABI version (null, which makes Envoy unload the module, if Envoy lacks a callback).
pub fn program_init(register: fn()) -> *const c_char {
    let _ = REGISTER.set(register);
    let missing = dm::callbacks().missing_for_http();
    if !missing.is_empty() {
        // Without the log callback nothing can be said through Envoy: stderr it is.
        eprintln!(
            "envoy-wasm-sdk: this Envoy lacks dynamic-module callbacks the module needs: {}",
            missing.join(", ")
        );
        return std::ptr::null();
    }
    dm::ABI_VERSION.as_ptr()
}

/// One filter configuration (`filter_name` and `filter_config` of an
/// `envoy.filters.http.dynamic_modules` or `envoy.filters.network.dynamic_modules` filter),
/// shared by every thread.
pub(crate) struct PluginConfig {
    /// Tells configurations apart across threads, even one at a freed one's address.
    id: u64,
    /// The filter name: the plugin's name and its `root_id` (which of the module's
    /// plugins runs it).
    name: String,
    /// The plugin's configuration bytes (`filter_config`).
    configuration: Vec<u8>,
    /// Envoy's configuration object (of the filter or bootstrap extension `kind` says):
    /// metrics are defined on it.
    envoy: FilterConfigEnvoyPtr,
    /// What Envoy configured: an HTTP filter, a network filter or a service.
    kind: Kind,
    /// A service's scheduler (Envoy's, committed to from any thread to wake the service on
    /// the main thread), as an address; 0 for a filter.
    scheduler: usize,
    /// Metrics defined while Envoy loads the configuration, then frozen into `metrics`.
    defining: Mutex<Vec<Metric>>,
    metrics: OnceLock<Vec<Metric>>,
}

// SAFETY: `envoy` is only passed back to Envoy's callbacks, on the main thread while the
// configuration loads (Envoy's contract for defining metrics); everything else is
// immutable or behind a lock.
unsafe impl Send for PluginConfig {}
// SAFETY: as for `Send`.
unsafe impl Sync for PluginConfig {}

/// What a configuration configures in Envoy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An `envoy.filters.http.dynamic_modules` filter.
    Http,
    /// An `envoy.filters.network.dynamic_modules` filter.
    Network,
    /// An `envoy.bootstrap.dynamic_modules` extension: a service, on the main thread.
    Service,
}

impl Kind {
    /// What it configures, in a message.
    fn noun(self) -> &'static str {
        match self {
            Kind::Http => "HTTP filter",
            Kind::Network => "network filter",
            Kind::Service => "service (bootstrap extension)",
        }
    }
}

/// A metric the plugin defined: its proxy-wasm type, name and Envoy's id for it.
#[derive(Clone, Debug)]
struct Metric {
    kind: u32,
    /// Its name as the SDK defined it (a family's: `name;label;label`).
    name: Vec<u8>,
    /// A family's label names (none for a plain metric).
    labels: Vec<Vec<u8>>,
    envoy_id: usize,
}

impl PluginConfig {
    /// The metrics, frozen once the configuration loaded (empty before).
    fn metrics(&self) -> &[Metric] {
        self.metrics.get().map_or(&[], Vec::as_slice)
    }
}

/// Configurations that were destroyed, for each thread to drop its plugin contexts of.
static RETIRED: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// How many entries `RETIRED` has, read without its lock on each new stream.
static RETIRED_COUNT: AtomicU64 = AtomicU64::new(0);
static NEXT_CONFIG_ID: AtomicU64 = AtomicU64::new(1);

/// Stream callbacks a filter may leave out, as bits (Envoy skips those a wasm module does
/// not export; so does the native target).
mod callback {
    pub(super) const REQUEST_HEADERS: u16 = 1;
    pub(super) const REQUEST_BODY: u16 = 1 << 1;
    pub(super) const REQUEST_TRAILERS: u16 = 1 << 2;
    pub(super) const RESPONSE_HEADERS: u16 = 1 << 3;
    pub(super) const RESPONSE_BODY: u16 = 1 << 4;
    pub(super) const RESPONSE_TRAILERS: u16 = 1 << 5;
    pub(super) const LOG: u16 = 1 << 6;
    pub(super) const DELETE: u16 = 1 << 7;
    pub(super) const NEW_CONNECTION: u16 = 1 << 8;
    pub(super) const DOWNSTREAM_DATA: u16 = 1 << 9;
    pub(super) const UPSTREAM_DATA: u16 = 1 << 10;
    pub(super) const DOWNSTREAM_CLOSE: u16 = 1 << 11;
    pub(super) const UPSTREAM_CLOSE: u16 = 1 << 12;

    /// Every one, with its export's name.
    pub(super) const ALL: [(u16, &str); 13] = [
        (REQUEST_HEADERS, "proxy_on_request_headers"),
        (REQUEST_BODY, "proxy_on_request_body"),
        (REQUEST_TRAILERS, "proxy_on_request_trailers"),
        (RESPONSE_HEADERS, "proxy_on_response_headers"),
        (RESPONSE_BODY, "proxy_on_response_body"),
        (RESPONSE_TRAILERS, "proxy_on_response_trailers"),
        (LOG, "proxy_on_log"),
        (DELETE, "proxy_on_delete"),
        (NEW_CONNECTION, "proxy_on_new_connection"),
        (DOWNSTREAM_DATA, "proxy_on_downstream_data"),
        (UPSTREAM_DATA, "proxy_on_upstream_data"),
        (DOWNSTREAM_CLOSE, "proxy_on_downstream_connection_close"),
        (UPSTREAM_CLOSE, "proxy_on_upstream_connection_close"),
    ];

    /// A stream phase's flag and its export's name.
    pub(super) fn of(phase: crate::runtime::contexts::Phase) -> (u16, &'static str) {
        use crate::runtime::contexts::Phase;
        let bit = match phase {
            Phase::RequestHeaders => REQUEST_HEADERS,
            Phase::RequestBody => REQUEST_BODY,
            Phase::RequestTrailers => REQUEST_TRAILERS,
            Phase::ResponseHeaders => RESPONSE_HEADERS,
            Phase::ResponseBody => RESPONSE_BODY,
            Phase::ResponseTrailers => RESPONSE_TRAILERS,
        };
        // The phases' flags are the first six bits, in `ALL`'s order.
        (bit, ALL[bit.trailing_zeros() as usize].1)
    }
}

/// A configuration's plugin context on one thread: the configuration's id, the context's
/// id, and the context.
type PluginContext = (u64, u32, Rc<dyn RootContext>);

/// One Envoy thread's VM: its host, its plugin contexts, whether it failed.
struct Worker {
    host: Rc<NativeHost>,
    /// A panic left this thread's runtime unusable.
    failed: Cell<bool>,
    /// Ended streams' objects, for the next streams (see `hooks::Worker::stream_object`),
    /// with the bindings they keep: declared before `roots`, so that at the thread's end
    /// they go first, and a plugin context's last holder is not one of them.
    spare: RefCell<Vec<Rc<hooks::Stream>>>,
    /// This thread's plugin context of each configuration, by configuration id: its id,
    /// and the context (which the streams bound to it hold too).
    roots: RefCell<Vec<PluginContext>>,
    next_context: Cell<u32>,
    /// How many retired configurations this thread has dropped the contexts of.
    retired_seen: Cell<u64>,
}

thread_local! {
    // In an `Rc`: each stream's object holds it too, so that its hooks reach it without
    // a thread-local lookup.
    static WORKER: Rc<Worker> = Rc::new(Worker::start());
}

/// The stream and connection callbacks the module's filters implement ([`callback`]
/// bits, set by the first thread that starts, with [`KNOWN`]), and [`ANY_FAILED`]: one
/// word, so that a hook with nothing to do reads one atomic.
static HOOKS: AtomicU32 = AtomicU32::new(0);

/// [`HOOKS`] holds the module's callbacks.
const KNOWN: u32 = 1 << 16;

/// Some thread's runtime failed: hooks for callbacks the filter does not implement run
/// too, so that a failed thread answers its streams at their next hook.
const ANY_FAILED: u32 = 1 << 17;

/// Whether a hook for callback `bit` has nothing to do on a stream or connection that
/// was set up: the filter does not implement it, and no thread has failed (a failed
/// thread answers its streams at their next hook).
#[inline]
fn skips(bit: u16) -> bool {
    HOOKS.load(Ordering::Relaxed) & (KNOWN | ANY_FAILED | u32::from(bit)) == KNOWN
}

impl Worker {
    /// Sets up the current thread: its host, and the crate's plugin registered in its
    /// dispatcher.
    fn start() -> Worker {
        let host = Rc::new(NativeHost::new());
        crate::abi::imports::install_host(Some(host.clone()));
        if let Some(register) = REGISTER.get() {
            register();
        }
        // This thread's HTTP streams hold their bindings (see `hooks::Stream`).
        crate::runtime::state::find_elsewhere_with(hooks::ELSEWHERE);
        // The module's registration is every thread's, so its bits are too.
        if HOOKS.load(Ordering::Acquire) & KNOWN == 0 {
            let bits = callback::ALL
                .iter()
                .filter(|(_, name)| crate::runtime::dispatch::exports(name))
                .fold(0, |bits, (bit, _)| bits | u32::from(*bit));
            HOOKS.fetch_or(bits | KNOWN, Ordering::Release);
        }
        Worker {
            host,
            failed: Cell::new(false),
            roots: RefCell::new(Vec::new()),
            next_context: Cell::new(1),
            retired_seen: Cell::new(0),
            spare: RefCell::new(Vec::with_capacity(hooks::SPARE_STREAMS)),
        }
    }

    fn next_context_id(&self) -> u32 {
        let id = self.next_context.get();
        self.next_context.set(id.wrapping_add(1).max(1));
        id
    }

    fn implements(&self, bit: u16) -> bool {
        HOOKS.load(Ordering::Relaxed) & u32::from(bit) != 0
    }

    /// This thread's runtime is unusable from now on (a panic).
    fn fail(&self) {
        self.failed.set(true);
        HOOKS.fetch_or(ANY_FAILED, Ordering::Relaxed);
    }

    /// A connection's last look, `proxy_on_log`, if the module has one.
    fn last_look(&self, scope: host::Scope, context_id: u32) {
        if self.implements(callback::LOG) {
            self.run("proxy_on_log", scope, || {
                crate::runtime::exports::lifecycle::proxy_on_log(context_id);
            });
        }
    }

    /// This thread's plugin context of `plugin`, configured now if it has none yet;
    /// `None` if configuring it failed.
    fn root_of(&self, plugin: &'static PluginConfig) -> Option<u32> {
        self.plugin_context(plugin).map(|(root, _)| root)
    }

    /// [`root_of`](Self::root_of), with the context itself.
    #[inline]
    fn plugin_context(&self, plugin: &'static PluginConfig) -> Option<(u32, Rc<dyn RootContext>)> {
        self.drop_retired();
        let known = self
            .roots
            .borrow()
            .iter()
            .find(|(config, ..)| *config == plugin.id)
            .map(|(_, root, context)| (*root, context.clone()));
        match known {
            Some(known) => Some(known),
            None => self.new_plugin_context(plugin),
        }
    }

    /// [`plugin_context`](Self::plugin_context), when this thread has none of `plugin`.
    #[inline(never)]
    fn new_plugin_context(
        &self,
        plugin: &'static PluginConfig,
    ) -> Option<(u32, Rc<dyn RootContext>)> {
        let root = self.configure(plugin)?;
        let context = crate::runtime::state::root(root)?;
        self.roots
            .borrow_mut()
            .push((plugin.id, root, context.clone()));
        Some((root, context))
    }

    /// Makes and configures a plugin context of `plugin`; `None` if the plugin refused
    /// its configuration or panicked.
    fn configure(&self, plugin: &'static PluginConfig) -> Option<u32> {
        use crate::runtime::exports::lifecycle;
        let root = self.next_context_id();
        self.host.add_root(root, plugin);
        let configured = self.run("proxy_on_configure", host::Scope::plugin(plugin), || {
            lifecycle::proxy_on_context_create(root, 0);
            fits(plugin, root)
                && lifecycle::proxy_on_vm_start(root, 0) != 0
                && lifecycle::proxy_on_configure(root, plugin.configuration.len()) != 0
        });
        if configured == Some(true) {
            return Some(root);
        }
        self.host.remove_context(root);
        if configured.is_some() {
            self.run("proxy_on_delete", host::Scope::plugin(plugin), || {
                lifecycle::proxy_on_delete(root);
            });
        }
        None
    }

    /// Drops this thread's plugin contexts of configurations Envoy destroyed.
    #[inline]
    fn drop_retired(&self) {
        let count = RETIRED_COUNT.load(Ordering::Acquire);
        if count != self.retired_seen.get() {
            self.drop_retired_now(count);
        }
    }

    /// [`drop_retired`](Self::drop_retired), when Envoy destroyed some since this thread
    /// last looked (`count` of them in all).
    #[inline(never)]
    fn drop_retired_now(&self, count: u64) {
        self.retired_seen.set(count);
        // Spare stream objects keep their bindings, and so their plugin contexts: dropped
        // first, while the thread still holds those contexts, so that a retired context's
        // last holder is this thread and its drop runs below.
        // A new list with the room reserved again (`keep_spare` writes into it, never
        // growing it).
        let spare = std::mem::replace(
            &mut *self.spare.borrow_mut(),
            Vec::with_capacity(hooks::SPARE_STREAMS),
        );
        drop(spare);
        let retired = RETIRED.lock().map(|list| list.clone()).unwrap_or_default();
        let gone: Vec<u32> = {
            let mut roots = self.roots.borrow_mut();
            let gone = roots
                .iter()
                .filter(|(config, ..)| retired.contains(config))
                .map(|(_, root, _)| *root)
                .collect();
            roots.retain(|(config, ..)| !retired.contains(config));
            gone
        };
        for root in gone {
            self.host.remove_context(root);
            if !self.failed.get() {
                crate::runtime::access::guarded(|| {
                    crate::runtime::exports::lifecycle::proxy_on_delete(root);
                });
            }
        }
    }

    /// Runs the runtime's export `callback` in `scope`; `None` if this thread failed
    /// before or the export panicked (which fails the thread).
    fn run<R>(&self, callback: &str, scope: host::Scope, call: impl FnOnce() -> R) -> Option<R> {
        if self.failed.get() {
            return None;
        }
        let entered = self.host.enter(&scope);
        let result = call();
        drop(entered);
        if crate::runtime::access::take_guest_panic().is_some() {
            self.panicked(callback, scope);
            return None;
        }
        Some(result)
    }

    /// The module panicked in export `callback`, run in `scope`: this thread fails, and
    /// says so in the plugin's log.
    #[cold]
    fn panicked(&self, callback: &str, scope: host::Scope) {
        self.fail();
        self.host.log_for(
            scope,
            crate::abi::LogLevel::Error,
            &format!(
                "Function: {callback} failed: the module panicked; this thread's streams \
                 are answered 503 from now on"
            ),
        );
    }
}

/// The configuration behind a pointer a `config_new` hook returned.
///
/// # Safety
/// `config` is null or a pointer a `config_new` hook returned: a leaked `PluginConfig`.
unsafe fn config_of(config: FilterConfigModulePtr) -> Option<&'static PluginConfig> {
    // SAFETY: as the caller promises; a `PluginConfig` is never freed.
    unsafe { config.cast::<PluginConfig>().as_ref() }
}

/// A `config_new` hook (main thread): configuration `config`, named `name`, of `kind`, as
/// the module's pointer to it; null rejects it, as it does where this Envoy lacks a
/// callback that kind needs.
fn config_new(
    envoy: FilterConfigEnvoyPtr,
    name: dm::EnvoyBuffer,
    config: dm::EnvoyBuffer,
    kind: Kind,
) -> FilterConfigModulePtr {
    // SAFETY: Envoy's buffers, valid during this hook.
    let (name, config) = unsafe { (name.bytes(), config.bytes()) };
    let missing = match kind {
        Kind::Http => Vec::new(),
        Kind::Network => dm::callbacks().missing_for_network(),
        Kind::Service => dm::callbacks().missing_for_service(),
    };
    if !missing.is_empty() {
        log_error(&format!(
            "refusing the configuration {:?}: this Envoy lacks dynamic-module callbacks a \
             {} needs: {}",
            String::from_utf8_lossy(name),
            kind.noun(),
            missing.join(", ")
        ));
        return std::ptr::null();
    }
    barrier(std::ptr::null, || {
        new_config(envoy, name, config, kind)
            .map_or(std::ptr::null(), |plugin| std::ptr::from_ref(plugin).cast())
    })
}

/// A `config_destroy` hook (main thread), after the configuration's last stream or
/// connection.
fn config_destroy(config: FilterConfigModulePtr) {
    // SAFETY: a pointer `config_new` returned.
    if let Some(plugin) = unsafe { config_of(config) } {
        barrier(|| (), || retire(plugin));
    }
}

/// A new configuration from Envoy (main thread), of an HTTP filter, a network one or a
/// service (`kind`): configured here, so a bad one is rejected now; `None` rejects it.
fn new_config(
    envoy: FilterConfigEnvoyPtr,
    name: &[u8],
    config: &[u8],
    kind: Kind,
) -> Option<&'static PluginConfig> {
    let scheduler = match (
        kind,
        dm::callbacks().bootstrap_extension_config_scheduler_new,
    ) {
        // SAFETY: Envoy's bootstrap configuration object, in its `config_new` hook.
        (Kind::Service, Some(new)) => (unsafe { new(envoy) }) as usize,
        _ => 0,
    };
    let plugin: &'static PluginConfig = Box::leak(Box::new(PluginConfig {
        id: NEXT_CONFIG_ID.fetch_add(1, Ordering::Relaxed),
        name: String::from_utf8_lossy(name).into_owned(),
        configuration: config.to_vec(),
        envoy,
        kind,
        scheduler,
        defining: Mutex::new(Vec::new()),
        metrics: OnceLock::new(),
    }));
    let root = WORKER.with(|worker| worker.root_of(plugin));
    let defined = plugin
        .defining
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    let _ = plugin.metrics.set(defined);
    match root {
        Some(_) => Some(plugin),
        None => {
            retire(plugin);
            None
        }
    }
}

/// Whether plugin context `root` has a filter of `plugin`'s kind, asked before the plugin
/// is configured (the kinds are its types'). A network-only plugin configured as an HTTP
/// filter, or a plugin without a network filter configured as one, would filter nothing:
/// refused, saying so, before its `configure` runs.
fn fits(plugin: &PluginConfig, root: u32) -> bool {
    let Some(filters) = crate::runtime::state::root(root).map(|root| root.filters()) else {
        return true;
    };
    match (plugin.kind, filters) {
        (Kind::Http, (false, true)) => {
            log::error!(
                "refusing the configuration of {:?}: this plugin has a network filter only; \
                 configure it with envoy.filters.network.dynamic_modules",
                plugin.name
            );
            false
        }
        (Kind::Network, (_, false)) => {
            log::error!(
                "refusing the configuration of {:?}: this plugin has no network filter; \
                 configure it with envoy.filters.http.dynamic_modules",
                plugin.name
            );
            false
        }
        _ => true,
    }
}

/// Writes `message` to Envoy's log at `error`, outside any plugin (before a thread's
/// runtime, and its logger, may exist).
fn log_error(message: &str) {
    match dm::callbacks().log {
        // SAFETY: Envoy's log callback, with a buffer over a live string.
        Some(log) => unsafe {
            log(
                dm::log_level::ERROR,
                dm::ModuleBuffer::of(message.as_bytes()),
            )
        },
        None => eprintln!("envoy-wasm-sdk: {message}"),
    }
}

/// Envoy destroyed configuration `plugin` (main thread): every thread drops its plugin
/// context of it. The configuration itself stays allocated (a few hundred bytes): a worker
/// may still hold its address until it next sees a stream.
fn retire(plugin: &PluginConfig) {
    if let Ok(mut retired) = RETIRED.lock() {
        retired.push(plugin.id);
        RETIRED_COUNT.store(retired.len() as u64, Ordering::Release);
    }
    WORKER.with(|worker| worker.drop_retired());
}

#[cfg(test)]
pub(super) mod tests {
    use super::{Kind, PluginConfig, callback};
    use crate::runtime::contexts::Phase;
    use std::sync::Mutex;

    /// A configuration for tests: leaked, as Envoy's are kept.
    pub(in crate::runtime::dynamic_module) fn plugin() -> &'static PluginConfig {
        Box::leak(Box::new(PluginConfig {
            id: 0,
            name: "test".into(),
            configuration: Vec::new(),
            envoy: std::ptr::null_mut(),
            kind: Kind::Http,
            scheduler: 0,
            defining: Mutex::new(Vec::new()),
            metrics: std::sync::OnceLock::new(),
        }))
    }

    /// Each phase's hook runs the export of that phase, under that phase's flag.
    #[test]
    fn each_phase_has_its_own_flag_and_export() {
        let phases = [
            Phase::RequestHeaders,
            Phase::RequestBody,
            Phase::RequestTrailers,
            Phase::ResponseHeaders,
            Phase::ResponseBody,
            Phase::ResponseTrailers,
        ];
        let mut seen = 0;
        for phase in phases {
            let (bit, name) = callback::of(phase);
            assert_eq!(name, format!("proxy_{phase}"));
            assert_eq!(seen & bit, 0, "{phase} shares its flag");
            seen |= bit;
        }
    }
}
