//! Envoy's dynamic-module C ABI, raw: the types, the event-hook statuses and the callbacks
//! into Envoy that the SDK's native target uses (feature `dynamic-module`).
//!
//! Declared here from Envoy's public `abi.h` at ABI version [`ABI_VERSION`], the version
//! Envoy 1.40 reports as matched when it loads a module (`Dynamic module ABI version v0.2.0
//! matched.`). Every HTTP declaration below was already in Envoy 1.38's header, and Envoy's
//! ABI policy never changes a released entity in place, so a module built on these loads in
//! 1.38 and later. The network filter's (`network_*`) are checked against Envoy 1.40; an
//! Envoy that lacks one still loads the module, and refuses its network filter
//! configurations.
//!
//! The callbacks are not linked: [`Callbacks::resolve`] looks each up by name in the
//! process that loaded the module (Envoy exports them). So the module links with no
//! undefined symbols (test binaries of a crate built with the feature link too), and a
//! callback a given Envoy lacks is `None`, which the SDK reports instead of failing to load.

use std::ffi::{CStr, c_char, c_void};
use std::sync::OnceLock;

/// The ABI version the module reports from `envoy_dynamic_module_on_program_init`.
pub const ABI_VERSION: &CStr = c"v0.2.0";

/// Envoy's HTTP filter configuration object (`DynamicModuleHttpFilterConfig`).
pub type FilterConfigEnvoyPtr = *mut c_void;
/// The module's object for one filter configuration.
pub type FilterConfigModulePtr = *const c_void;
/// Envoy's HTTP filter object for one stream (`DynamicModuleHttpFilter`).
pub type FilterEnvoyPtr = *mut c_void;
/// The module's object for one stream.
pub type FilterModulePtr = *const c_void;
/// Envoy's scheduler of a stream (`envoy_dynamic_module_type_http_filter_scheduler_module_ptr`),
/// which the module frees.
pub type SchedulerPtr = *mut c_void;
/// Envoy's network filter configuration object (`DynamicModuleNetworkFilterConfig`).
pub type NetworkConfigEnvoyPtr = *mut c_void;
/// Envoy's network filter object for one connection (`DynamicModuleNetworkFilter`).
pub type NetworkFilterEnvoyPtr = *mut c_void;
/// Envoy's bootstrap extension configuration object (`DynamicModuleBootstrapExtensionConfig`).
pub type BootstrapConfigEnvoyPtr = *mut c_void;
/// A timer of a bootstrap extension (main thread, one-shot), which the module frees.
pub type BootstrapTimerPtr = *mut c_void;
/// A scheduler of a bootstrap extension configuration: any thread commits events to it,
/// which Envoy runs on the main thread. The module frees it.
pub type BootstrapSchedulerPtr = *mut c_void;

pub(crate) mod stream;
mod types;
pub use types::*;

/// Declares the callbacks: a field per callback in [`Callbacks`], resolved by the name
/// `envoy_dynamic_module_callback_<field>`.
macro_rules! callbacks {
    (
        $( $(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?; )*
        metrics {
            $( $(#[$family_meta:meta])* $family:ident: $define:literal, $update:literal; )*
        }
    ) => {
        /// The callbacks into Envoy the SDK uses; `None` where this Envoy has none.
        #[derive(Clone, Copy, Debug, Default)]
        pub struct Callbacks {
            $( $(#[$meta])* pub $name: Option<unsafe extern "C" fn($($arg: $ty),*) $(-> $ret)?>, )*
            $( $(#[$family_meta])* pub $family: MetricCallbacks, )*
        }

        impl Callbacks {
            /// Looks each callback up with `lookup`, which returns a symbol's address (or
            /// null) by its C name.
            pub fn resolve(lookup: impl Fn(&CStr) -> *mut c_void) -> Callbacks {
                Callbacks {
                    $($name: {
                        let name = concat!("envoy_dynamic_module_callback_", stringify!($name), "\0");
                        let address = CStr::from_bytes_with_nul(name.as_bytes())
                            .map_or(std::ptr::null_mut(), &lookup);
                        if address.is_null() {
                            None
                        } else {
                            // SAFETY: the symbol of that name is Envoy's callback, whose C
                            // signature is the one declared for this field.
                            Some(unsafe {
                                std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($ty),*) $(-> $ret)?>(address)
                            })
                        }
                    },)*
                    // SAFETY: each slot's type is its callback's: `DefineMetric` for the
                    // three definitions, `UpdateMetric` for the five updates.
                    $($family: unsafe { MetricCallbacks {
                        define: [
                            resolve_as(&lookup, concat!("envoy_dynamic_module_callback_", $define, "counter\0")),
                            resolve_as(&lookup, concat!("envoy_dynamic_module_callback_", $define, "gauge\0")),
                            resolve_as(&lookup, concat!("envoy_dynamic_module_callback_", $define, "histogram\0")),
                        ],
                        update: [
                            resolve_as(&lookup, concat!("envoy_dynamic_module_callback_", $update, "increment_counter\0")),
                            resolve_as(&lookup, concat!("envoy_dynamic_module_callback_", $update, "increment_gauge\0")),
                            resolve_as(&lookup, concat!("envoy_dynamic_module_callback_", $update, "decrement_gauge\0")),
                            resolve_as(&lookup, concat!("envoy_dynamic_module_callback_", $update, "set_gauge\0")),
                            resolve_as(&lookup, concat!("envoy_dynamic_module_callback_", $update, "record_histogram_value\0")),
                        ],
                    } },)*
                }
            }

            /// The names of the callbacks `resolve` did not find.
            pub fn missing(&self) -> Vec<&'static str> {
                let mut missing = Vec::new();
                $(if self.$name.is_none() {
                    missing.push(stringify!($name));
                })*
                $(
                    let names = [
                        concat!($define, "counter"),
                        concat!($define, "gauge"),
                        concat!($define, "histogram"),
                        concat!($update, "increment_counter"),
                        concat!($update, "increment_gauge"),
                        concat!($update, "decrement_gauge"),
                        concat!($update, "set_gauge"),
                        concat!($update, "record_histogram_value"),
                    ];
                    let found = self.$family.define.iter().map(Option::is_some)
                        .chain(self.$family.update.iter().map(Option::is_some));
                    missing.extend(names.into_iter().zip(found).filter(|(_, found)| !found).map(|(name, _)| name));
                )*
                missing
            }
        }
    };
}

callbacks! {
    /// Writes `message` to Envoy's log (`[dynamic_modules]`) at `level`.
    fn log(level: u32, message: ModuleBuffer);
    /// Whether Envoy logs `level` for dynamic modules.
    fn log_enabled(level: u32) -> bool;
    /// Value `index` of header `key` in map `map`; writes how many values it has.
    fn http_get_header(filter: FilterEnvoyPtr, map: u32, key: ModuleBuffer, result: *mut EnvoyBuffer, index: usize, count: *mut usize) -> bool;
    /// How many headers map `map` has.
    fn http_get_headers_size(filter: FilterEnvoyPtr, map: u32) -> usize;
    /// Every header of map `map`, into `result` (room for `http_get_headers_size`).
    fn http_get_headers(filter: FilterEnvoyPtr, map: u32, result: *mut EnvoyHeader) -> bool;
    /// Adds a value to header `key`.
    fn http_add_header(filter: FilterEnvoyPtr, map: u32, key: ModuleBuffer, value: ModuleBuffer) -> bool;
    /// Sets header `key` to `value`, or removes it for a null `value`.
    fn http_set_header(filter: FilterEnvoyPtr, map: u32, key: ModuleBuffer, value: ModuleBuffer) -> bool;
    /// Answers the stream with a local reply.
    fn http_send_response(filter: FilterEnvoyPtr, status: u32, headers: *mut ModuleHeader, header_count: usize, body: ModuleBuffer, details: ModuleBuffer);
    /// The size of body buffer `which`.
    fn http_get_body_size(filter: FilterEnvoyPtr, which: u32) -> usize;
    /// How many slices body buffer `which` has.
    fn http_get_body_chunks_size(filter: FilterEnvoyPtr, which: u32) -> usize;
    /// The slices of body buffer `which`, into `result` (room for `http_get_body_chunks_size`).
    fn http_get_body_chunks(filter: FilterEnvoyPtr, which: u32, result: *mut EnvoyBuffer) -> bool;
    /// Appends `data` to body buffer `which`.
    fn http_append_body(filter: FilterEnvoyPtr, which: u32, data: ModuleBuffer) -> bool;
    /// Drops the first `bytes` bytes of body buffer `which`.
    fn http_drain_body(filter: FilterEnvoyPtr, which: u32, bytes: usize) -> bool;
    /// A string attribute.
    fn http_filter_get_attribute_string(filter: FilterEnvoyPtr, id: u32, result: *mut EnvoyBuffer) -> bool;
    /// An integer attribute.
    fn http_filter_get_attribute_int(filter: FilterEnvoyPtr, id: u32, result: *mut u64) -> bool;
    /// The stream's timing, into `result` (its start is proxy-wasm's `request.time`).
    fn http_get_timing_info(filter: FilterEnvoyPtr, result: *mut TimingInfo);
    /// A boolean attribute.
    fn http_filter_get_attribute_bool(filter: FilterEnvoyPtr, id: u32, result: *mut bool) -> bool;
    /// Starts an HTTP callout from a stream; writes its id.
    fn http_filter_http_callout(filter: FilterEnvoyPtr, id: *mut u64, cluster: ModuleBuffer, headers: *mut ModuleHeader, header_count: usize, body: ModuleBuffer, timeout_ms: u64) -> u32;
    /// Starts an HTTP stream from a stream to `cluster` (its headers, a first body, whether
    /// that ends the request); writes its id. Its answer arrives in the
    /// `envoy_dynamic_module_on_http_filter_http_stream_*` hooks.
    fn http_filter_start_http_stream(filter: FilterEnvoyPtr, id: *mut u64, cluster: ModuleBuffer, headers: *mut ModuleHeader, header_count: usize, body: ModuleBuffer, end_stream: bool, timeout_ms: u64) -> u32;
    /// Resets an HTTP stream the stream started.
    fn http_filter_reset_http_stream(filter: FilterEnvoyPtr, id: u64);
    /// Sends request body bytes on an HTTP stream the stream started (`end_stream`: the
    /// request ends with them); whether it went.
    fn http_stream_send_data(filter: FilterEnvoyPtr, id: u64, data: ModuleBuffer, end_stream: bool) -> bool;
    /// Resumes a request held by a hook.
    fn http_filter_continue_decoding(filter: FilterEnvoyPtr);
    /// Resumes a response held by a hook.
    fn http_filter_continue_encoding(filter: FilterEnvoyPtr);
    /// Resets the stream.
    fn http_filter_reset_stream(filter: FilterEnvoyPtr, reason: u32, details: ModuleBuffer);
    /// Makes Envoy choose the stream's route again.
    fn http_clear_route_cache(filter: FilterEnvoyPtr);
    /// Sets filter state `key`, made by Envoy's object factory for it from `value`.
    fn http_set_filter_state_typed(filter: FilterEnvoyPtr, key: ModuleBuffer, value: ModuleBuffer) -> bool;
    /// Filter state `key`, serialized.
    fn http_get_filter_state_typed(filter: FilterEnvoyPtr, key: ModuleBuffer, result: *mut EnvoyBuffer) -> bool;
    /// A scheduler for stream `filter`: any thread may commit events to it, which Envoy
    /// runs on the stream's worker (`envoy_dynamic_module_on_http_filter_scheduled`), or
    /// drops once the stream is gone. Only once the stream's first phase has begun.
    fn http_filter_scheduler_new(filter: FilterEnvoyPtr) -> SchedulerPtr;
    /// Schedules event `event` of a scheduler (from any thread).
    fn http_filter_scheduler_commit(scheduler: SchedulerPtr, event: u64);
    /// Frees a scheduler; events committed before still arrive.
    fn http_filter_scheduler_delete(scheduler: SchedulerPtr);
    /// How many bytes a network filter's read buffer (the client's data) holds.
    fn network_filter_get_read_buffer_size(filter: NetworkFilterEnvoyPtr) -> usize;
    /// How many slices the read buffer has.
    fn network_filter_get_read_buffer_chunks_size(filter: NetworkFilterEnvoyPtr) -> usize;
    /// The read buffer's slices, into `result` (room for `..._chunks_size`).
    fn network_filter_get_read_buffer_chunks(filter: NetworkFilterEnvoyPtr, result: *mut EnvoyBuffer) -> bool;
    /// Drops the read buffer's first `length` bytes.
    fn network_filter_drain_read_buffer(filter: NetworkFilterEnvoyPtr, length: usize) -> bool;
    /// Appends `data` to the read buffer.
    fn network_filter_append_read_buffer(filter: NetworkFilterEnvoyPtr, data: ModuleBuffer) -> bool;
    /// Puts `data` before the read buffer's bytes.
    fn network_filter_prepend_read_buffer(filter: NetworkFilterEnvoyPtr, data: ModuleBuffer) -> bool;
    /// How many bytes the write buffer (the upstream's data, in `on_network_filter_write`) holds.
    fn network_filter_get_write_buffer_size(filter: NetworkFilterEnvoyPtr) -> usize;
    /// How many slices the write buffer has.
    fn network_filter_get_write_buffer_chunks_size(filter: NetworkFilterEnvoyPtr) -> usize;
    /// The write buffer's slices, into `result` (room for `..._chunks_size`).
    fn network_filter_get_write_buffer_chunks(filter: NetworkFilterEnvoyPtr, result: *mut EnvoyBuffer) -> bool;
    /// Drops the write buffer's first `length` bytes.
    fn network_filter_drain_write_buffer(filter: NetworkFilterEnvoyPtr, length: usize) -> bool;
    /// Appends `data` to the write buffer.
    fn network_filter_append_write_buffer(filter: NetworkFilterEnvoyPtr, data: ModuleBuffer) -> bool;
    /// Puts `data` before the write buffer's bytes.
    fn network_filter_prepend_write_buffer(filter: NetworkFilterEnvoyPtr, data: ModuleBuffer) -> bool;
    /// Resumes reading after a hook returned `StopIteration`.
    fn network_filter_continue_reading(filter: NetworkFilterEnvoyPtr);
    /// Closes the connection ([`close_type`]).
    fn network_filter_close(filter: NetworkFilterEnvoyPtr, close_type: u32);
    /// The connection's id.
    fn network_filter_get_connection_id(filter: NetworkFilterEnvoyPtr) -> u64;
    /// The client's address (its IP, as text) and port.
    fn network_filter_get_remote_address(filter: NetworkFilterEnvoyPtr, address: *mut EnvoyBuffer, port: *mut u32) -> bool;
    /// The address (IP, as text) and port the client connected to.
    fn network_filter_get_local_address(filter: NetworkFilterEnvoyPtr, address: *mut EnvoyBuffer, port: *mut u32) -> bool;
    /// The server name the client asked for (SNI).
    fn network_filter_get_requested_server_name(filter: NetworkFilterEnvoyPtr, result: *mut EnvoyBuffer) -> bool;
    /// A string attribute of the connection.
    fn network_filter_get_attribute_string(filter: NetworkFilterEnvoyPtr, id: u32, result: *mut EnvoyBuffer) -> bool;
    /// An integer attribute of the connection.
    fn network_filter_get_attribute_int(filter: NetworkFilterEnvoyPtr, id: u32, result: *mut u64) -> bool;
    /// A boolean attribute of the connection.
    fn network_filter_get_attribute_bool(filter: NetworkFilterEnvoyPtr, id: u32, result: *mut bool) -> bool;
    /// Defines a counter (only while the configuration is made; no labels); writes its id.
    fn network_filter_config_define_counter(config: NetworkConfigEnvoyPtr, name: ModuleBuffer, id: *mut usize) -> u32;
    /// Defines a gauge (only while the configuration is made; no labels); writes its id.
    fn network_filter_config_define_gauge(config: NetworkConfigEnvoyPtr, name: ModuleBuffer, id: *mut usize) -> u32;
    /// Defines a histogram (only while the configuration is made; no labels); writes its id.
    fn network_filter_config_define_histogram(config: NetworkConfigEnvoyPtr, name: ModuleBuffer, id: *mut usize) -> u32;
    /// Adds `value` to a counter.
    fn network_filter_increment_counter(filter: NetworkFilterEnvoyPtr, id: usize, value: u64) -> u32;
    /// Adds `value` to a gauge.
    fn network_filter_increment_gauge(filter: NetworkFilterEnvoyPtr, id: usize, value: u64) -> u32;
    /// Subtracts `value` from a gauge.
    fn network_filter_decrement_gauge(filter: NetworkFilterEnvoyPtr, id: usize, value: u64) -> u32;
    /// Sets a gauge.
    fn network_filter_set_gauge(filter: NetworkFilterEnvoyPtr, id: usize, value: u64) -> u32;
    /// Records a histogram sample.
    fn network_filter_record_histogram_value(filter: NetworkFilterEnvoyPtr, id: usize, value: u64) -> u32;
    /// Tells Envoy the bootstrap extension is ready: Envoy serves nothing until every
    /// bootstrap extension has said so.
    fn bootstrap_extension_config_signal_init_complete(config: BootstrapConfigEnvoyPtr);
    /// A scheduler of bootstrap configuration `config` (main thread).
    fn bootstrap_extension_config_scheduler_new(config: BootstrapConfigEnvoyPtr) -> BootstrapSchedulerPtr;
    /// Schedules `event` (from any thread): Envoy runs
    /// `envoy_dynamic_module_on_bootstrap_extension_config_scheduled` with it on the main
    /// thread, or drops it once the configuration is gone.
    fn bootstrap_extension_config_scheduler_commit(scheduler: BootstrapSchedulerPtr, event: u64);
    /// A timer of bootstrap configuration `config`, not armed (main thread).
    fn bootstrap_extension_timer_new(config: BootstrapConfigEnvoyPtr) -> BootstrapTimerPtr;
    /// Arms a timer to fire once, `delay_ms` from now (main thread).
    fn bootstrap_extension_timer_enable(timer: BootstrapTimerPtr, delay_ms: u64);
    /// Starts an HTTP callout from bootstrap configuration `config` (main thread, once the
    /// server is up); writes its id. The answer arrives in
    /// `envoy_dynamic_module_on_bootstrap_extension_http_callout_done`.
    fn bootstrap_extension_http_callout(config: BootstrapConfigEnvoyPtr, id: *mut u64, cluster: ModuleBuffer, headers: *mut ModuleHeader, header_count: usize, body: ModuleBuffer, timeout_ms: u64) -> u32;
    /// Disarms a timer (main thread).
    fn bootstrap_extension_timer_disable(timer: BootstrapTimerPtr);
    metrics {
        /// An HTTP filter's metrics: defined on its configuration
        /// (`http_filter_config_define_*`), updated through a stream (`http_filter_*`).
        http_filter_metrics: "http_filter_config_define_", "http_filter_";
        /// A bootstrap extension's metrics, defined and updated on its configuration
        /// (`bootstrap_extension_config_*`).
        bootstrap_metrics: "bootstrap_extension_config_define_", "bootstrap_extension_config_";
    }
}

/// Defines a metric (only while its configuration is made): the configuration, the name,
/// the label names and their count; writes the metric's id.
pub type DefineMetric = unsafe extern "C" fn(
    config: *mut c_void,
    name: ModuleBuffer,
    label_names: *const ModuleBuffer,
    labels: usize,
    id: *mut usize,
) -> u32;

/// Changes a metric: the stream or configuration it goes through, its id, the label values
/// and their count, the amount (or the value set or recorded).
pub type UpdateMetric = unsafe extern "C" fn(
    target: *mut c_void,
    id: usize,
    label_values: *const ModuleBuffer,
    labels: usize,
    value: u64,
) -> u32;

/// One extension kind's metric callbacks. Envoy's ABI has the same eight calls, with the
/// same arguments, for an HTTP filter's configuration and a bootstrap extension's; only
/// their names differ.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricCallbacks {
    /// Defines a counter, a gauge, a histogram.
    pub define: [Option<DefineMetric>; 3],
    /// Adds to a counter, adds to a gauge, subtracts from a gauge, sets a gauge, records a
    /// histogram's sample.
    pub update: [Option<UpdateMetric>; 5],
}

/// Looks up `name` (NUL-terminated) as a metric callback of type `F`.
///
/// # Safety
/// `F` is the function pointer type of Envoy's callback `name` ([`DefineMetric`] or
/// [`UpdateMetric`]).
unsafe fn resolve_as<F: Copy>(lookup: &impl Fn(&CStr) -> *mut c_void, name: &str) -> Option<F> {
    const { assert!(size_of::<F>() == size_of::<*mut c_void>()) };
    let address = CStr::from_bytes_with_nul(name.as_bytes()).map_or(std::ptr::null_mut(), lookup);
    // SAFETY: the caller's contract: `F` is the function pointer type of the callback
    // named (the same size as an address, checked above), which Envoy exports with that
    // C signature.
    (!address.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, F>(&address) })
}

impl Callbacks {
    /// The names of the missing callbacks the HTTP filter needs: a module loads without the
    /// network filter's (`network_*`), whose configurations are refused instead.
    pub fn missing_for_http(&self) -> Vec<&'static str> {
        let mut missing = self.missing();
        missing.retain(|name| !name.starts_with("network_") && !name.starts_with("bootstrap_"));
        missing
    }

    /// The names of the missing callbacks a service (a bootstrap extension) needs.
    pub fn missing_for_service(&self) -> Vec<&'static str> {
        let mut missing = self.missing();
        missing.retain(|name| name.starts_with("bootstrap_") || *name == "log");
        missing
    }

    /// The names of the missing callbacks a network filter needs.
    pub fn missing_for_network(&self) -> Vec<&'static str> {
        let mut missing = self.missing();
        missing.retain(|name| name.starts_with("network_") || *name == "log");
        missing
    }
}

static RESOLVED: OnceLock<Callbacks> = OnceLock::new();

/// The callbacks, looked up in the current process on first use (all `None` outside
/// Envoy).
pub fn callbacks() -> &'static Callbacks {
    RESOLVED.get_or_init(|| Callbacks::resolve(lookup))
}

unsafe extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// `RTLD_DEFAULT`: search the process's global symbols (glibc and musl define it as 0).
#[cfg(target_os = "linux")]
const RTLD_DEFAULT: *mut c_void = std::ptr::null_mut();
/// `RTLD_DEFAULT` on Apple platforms.
#[cfg(target_vendor = "apple")]
const RTLD_DEFAULT: *mut c_void = -2isize as *mut c_void;

fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: `name` is NUL-terminated; `dlsym` only reads it, and returns null for an
    // unknown symbol.
    unsafe { dlsym(RTLD_DEFAULT, name.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn fake_log(_level: u32, _message: ModuleBuffer) {}

    /// The callbacks of a process that exports only `symbol`, at `address`.
    fn resolved_with_only(symbol: &CStr, address: *mut c_void) -> Callbacks {
        Callbacks::resolve(|name| {
            if name == symbol {
                address
            } else {
                std::ptr::null_mut()
            }
        })
    }

    #[test]
    fn callbacks_resolve_by_their_c_names_and_the_missing_are_listed() {
        let resolved = resolved_with_only(c"envoy_dynamic_module_callback_log", fake_log as _);
        assert!(resolved.log.is_some());
        let missing = resolved.missing();
        assert!(!missing.contains(&"log"));
        assert!(missing.contains(&"http_get_header"), "{missing:?}");
        assert_eq!(missing.len(), 81, "every other callback: {missing:?}");
        assert_eq!(resolved.missing_for_http().len(), 37);
        assert_eq!(resolved.missing_for_service().len(), 15);
        assert!(
            resolved
                .missing_for_network()
                .iter()
                .all(|name| name.starts_with("network_")),
        );
        assert_eq!(resolved.missing_for_network().len(), 29);
    }

    unsafe extern "C" fn fake_update(
        _target: *mut c_void,
        _id: usize,
        _values: *const ModuleBuffer,
        _labels: usize,
        _value: u64,
    ) -> u32 {
        7
    }

    /// A kind's metric callbacks resolve by their C names, each into its own slot.
    #[test]
    fn metric_callbacks_resolve_by_kind_and_call() {
        let resolved = resolved_with_only(
            c"envoy_dynamic_module_callback_bootstrap_extension_config_decrement_gauge",
            fake_update as _,
        );
        let found = |family: MetricCallbacks| family.update.map(|update| update.is_some());
        assert_eq!(
            found(resolved.bootstrap_metrics),
            [false, false, true, false, false]
        );
        assert_eq!(found(resolved.http_filter_metrics), [false; 5]);
        let decrement = resolved.bootstrap_metrics.update[2].expect("resolved");
        // SAFETY: `fake_update`, which reads none of its arguments.
        let status = unsafe { decrement(std::ptr::null_mut(), 0, std::ptr::null(), 0, 1) };
        assert_eq!(status, 7, "the slot calls the symbol it was resolved from");
        let missing = resolved.missing();
        assert!(!missing.contains(&"bootstrap_extension_config_decrement_gauge"));
        assert!(missing.contains(&"bootstrap_extension_config_increment_gauge"));
        assert!(missing.contains(&"http_filter_config_define_histogram"));
    }

    #[test]
    fn outside_envoy_no_callback_is_found() {
        // The test binary exports none of Envoy's callbacks.
        assert!(callbacks().http_send_response.is_none());
    }
}
