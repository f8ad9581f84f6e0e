//! Configuring the emulated VM and its plugins, as Envoy loads them; a refused
//! configuration.

use super::guest::Guest;
use super::host::LogRecord;
use super::{Emulator, PluginId};
use crate::config::ConfigError;
use std::fmt;
use std::rc::Rc;

/// A plugin's configuration was refused; carries why, and what the plugin logged while
/// refusing it.
#[derive(Clone, Debug)]
pub struct ConfigureFailed {
    /// Log lines written during configuration.
    pub logs: Vec<LogRecord>,
    /// The error the configuration was refused with (`None` if the plugin was not reached,
    /// e.g. no `entry!`).
    pub error: Option<ConfigError>,
}

impl ConfigureFailed {
    /// The path of the field the configuration was refused for (`rules[2].name`), if one
    /// was named: match on it rather than on the message.
    pub fn field_path(&self) -> Option<&str> {
        self.error.as_ref()?.field_path()
    }
}

impl fmt::Display for ConfigureFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the plugin refused its configuration")?;
        for record in &self.logs {
            write!(f, "\n  [{:?}] {}", record.level, record.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigureFailed {}

impl Emulator {
    /// Configures the default plugin (named `test_plugin`) with `configuration` (JSON text,
    /// or empty), as Envoy does when it loads the plugin.
    ///
    /// # Errors
    /// [`ConfigureFailed`] when the plugin refuses its configuration (its log says why).
    pub fn configure(&self, configuration: impl AsRef<[u8]>) -> Result<PluginId, ConfigureFailed> {
        let id = self.add_plugin("test_plugin", configuration)?;
        self.default_plugin.set(Some(id.0));
        Ok(id)
    }

    /// Declares that the emulated host has attribute `path`, which upstream Envoy 1.40
    /// does not (`route_name` and `cluster_name`, which Higress's Envoy sets): from now on
    /// the value a test sets there is served. Without it the emulator answers such paths as
    /// Envoy does, with nothing, so a filter that relies on them fails here as it would in
    /// Envoy. (Likewise the request line's attributes, `request.path` and its kin, are
    /// there only until the response begins, and `response.code` and `upstream.*` only
    /// after.)
    pub fn declare_host_attribute(&self, path: &[&str]) {
        self.host
            .state
            .borrow_mut()
            .host_attributes
            .push(path.join("\0").into_bytes());
    }

    /// Names the emulated VM (`vm_id` in Envoy's `vm_config`; `emulator` by default): the
    /// VM queues are registered in and resolved by. The emulator runs every plugin in one
    /// VM, so to test a filter that feeds a [service](crate::service) in another VM, give
    /// this VM the service's `vm_id` and add the service with
    /// [`add_plugin`](Emulator::add_plugin).
    pub fn set_vm_id(&self, vm_id: &str) {
        let mut state = self.host.state.borrow_mut();
        state.vm_id = vm_id.to_owned();
        state
            .properties
            .insert(b"plugin_vm_id".to_vec(), vm_id.as_bytes().to_vec());
    }

    /// Sets the VM's own configuration (`vm_config.configuration` in Envoy), which
    /// [`Plugin::on_vm_start`](crate::Plugin::on_vm_start) reads when each plugin is added
    /// (empty by default): set it before [`configure`](Emulator::configure).
    pub fn set_vm_configuration(&self, configuration: impl AsRef<[u8]>) {
        self.host.state.borrow_mut().vm_configuration = configuration.as_ref().to_vec();
    }

    /// Adds another plugin (root context) of the same module with its own name (its
    /// `root_id` too) and configuration; streams of it come from
    /// [`stream_of`](Emulator::stream_of).
    ///
    /// # Errors
    /// [`ConfigureFailed`] when the plugin refuses its configuration (its log says why).
    pub fn add_plugin(
        &self,
        name: &str,
        configuration: impl AsRef<[u8]>,
    ) -> Result<PluginId, ConfigureFailed> {
        self.add_plugin_with_root_id(name, name, configuration)
    }

    /// Adds another plugin of the same module to this VM, named `name`, under `root_id`
    /// (empty for none), as Envoy does for each filter that loads the same module: two
    /// Istio `WasmPlugin`s from one image are two names with the same `root_id`. Each
    /// gets its own plugin context and configuration; streams of it come from
    /// [`stream_of`](Emulator::stream_of).
    ///
    /// # Errors
    /// [`ConfigureFailed`] when the plugin refuses its configuration (its log says why).
    pub fn add_plugin_with_root_id(
        &self,
        name: &str,
        root_id: &str,
        configuration: impl AsRef<[u8]>,
    ) -> Result<PluginId, ConfigureFailed> {
        let root = self.new_context_id();
        {
            let mut state = self.host.state.borrow_mut();
            state.roots.push(root);
            state.plugin_names.insert(
                root,
                (name.as_bytes().to_vec(), root_id.as_bytes().to_vec()),
            );
            state.plugin_configuration = configuration.as_ref().to_vec();
        }
        let logs_before = self.host.state.borrow().logs.len();
        let size = configuration.as_ref().len();
        let vm_size = self.host.state.borrow().vm_configuration.len();
        // As Envoy starts a plugin: its context is created, the VM started for it, then it
        // is configured.
        let (root_id, vm_size, size) = (u64::from(root), vm_size as u64, size as u64);
        self.create_context(root, 0);
        let accepted = self.call_into(root, "proxy_on_vm_start", &[root_id, vm_size]) != 0
            && self.call_into(root, "proxy_on_configure", &[root_id, size]) != 0;
        if !accepted {
            let logs = self.host.state.borrow().logs[logs_before..].to_vec();
            let error = match self.guest {
                Guest::Native => crate::runtime::seam::take_refused_config(),
                // The VM's side is out of reach: the reason is in the log line.
                Guest::Wasm(_) => logs.iter().find_map(|line| {
                    let (_, reason) = line
                        .message
                        .split_once("invalid plugin configuration: ")
                        .or_else(|| line.message.split_once("invalid VM configuration: "))?;
                    Some(ConfigError::from_text(reason).unwrap_or_else(|| ConfigError::new(reason)))
                }),
            };
            return Err(ConfigureFailed { logs, error });
        }
        Ok(PluginId(root))
    }

    /// The default plugin as `configure` made it (the value of the entry's plugin type
    /// `P`), to check what it parsed; `None` before `configure`, or for another type.
    ///
    /// # Panics
    /// On the wasm backend: the plugin lives inside the VM.
    pub fn plugin<P: crate::Plugin>(&self) -> Option<Rc<P>> {
        self.plugin_of(PluginId(self.default_plugin.get()?))
    }

    /// Like [`plugin`](Emulator::plugin), for a plugin added with
    /// [`add_plugin`](Emulator::add_plugin).
    ///
    /// # Panics
    /// On the wasm backend: the plugin lives inside the VM.
    pub fn plugin_of<P: crate::Plugin>(&self, plugin: PluginId) -> Option<Rc<P>> {
        assert!(
            !self.on_wasm(),
            "the configured plugin is inside the VM on the wasm backend: test it natively"
        );
        crate::runtime::seam::configured_plugin::<P>(plugin.0)
    }

    pub(super) fn default_plugin(&self) -> u32 {
        self.default_plugin
            .get()
            .expect("configure the plugin first: emulator.configure(\"...\")")
    }
}
