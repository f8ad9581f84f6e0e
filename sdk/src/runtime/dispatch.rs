//! Routes each guest export to the plugin context or the filter it is for.
//!
//! Envoy announces every context with `proxy_on_context_create(context, parent)`: a plugin
//! context has no parent, a stream or connection has the plugin context it was created
//! under, and is bound to it (see [`state`](super::state)). Its filter is made at its first
//! callback, by that plugin. (The native target binds its HTTP streams itself, each in
//! the object Envoy hands back at its hooks, and runs their phases with `on_bound_*`.)
//!
//! A filter is taken out of its slot while its callback runs, so no borrow is held during
//! user code: a host call that re-enters the guest (Envoy may run the response path of a
//! local reply at once) finds the slot busy and continues instead of panicking.

use crate::abi::{Action, Via};
use crate::filter::FilterExports;
use crate::host;
use crate::plugin::Plugin;
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
use crate::runtime::access::with_bound;
use crate::runtime::access::{bind, guarded, with_stream};
use crate::runtime::connections::Connections;
use crate::runtime::contexts::Phase;
use crate::runtime::contexts::{NewRoot, RootContext, Slot, StreamContext};
use crate::runtime::logger;
use crate::runtime::root::new_root;
use crate::runtime::state::{self, Dispatcher, RootEntry};
use std::rc::Rc;

/// How [`register`] makes contexts of plugin `P` (one of a module's other plugins), with
/// its network filter when `connections` says it has one.
pub fn root_of<P: Plugin, C: Connections<P>>(connections: C) -> NewRoot
where
    P::Filter: FilterExports,
{
    let _ = connections;
    NewRoot {
        make: new_root::<P, C>,
        exports: [<P::Filter as FilterExports>::EXPORTS, C::exports()],
    }
}

/// Makes `P` the plugin of this module (of this thread, off wasm), with its network filter
/// when `connections` says it has one, and `others` for the plugins configured under
/// those `root_id`s, dropping any contexts.
pub fn register<P: Plugin, C: Connections<P>>(connections: C, others: Vec<(&'static str, NewRoot)>)
where
    P::Filter: FilterExports,
{
    let main = root_of::<P, C>(connections);
    #[cfg(all(
        any(feature = "testing", feature = "dynamic-module"),
        not(target_arch = "wasm32")
    ))]
    EXPORTED.with(|exported| {
        let mut exported = exported.borrow_mut();
        exported.clear();
        // The SDK's own: every module announces and ends its contexts.
        exported.extend_from_slice(&["proxy_on_context_create", "proxy_on_delete"]);
        // What any of the module's plugins' filters implement: one module exports the
        // union of its plugins' callbacks, as a wasm module's exports are.
        let roots = std::iter::once(&main).chain(others.iter().map(|(_, other)| other));
        for name in roots.flat_map(|root| root.exports).flatten() {
            if !exported.contains(name) {
                exported.push(name);
            }
        }
    });
    state::with(|d| {
        *d = Dispatcher {
            new_root: Some(main),
            other_roots: others,
            ..Dispatcher::new()
        }
    });
}

#[cfg(all(
    any(feature = "testing", feature = "dynamic-module"),
    not(target_arch = "wasm32")
))]
thread_local! {
    static EXPORTED: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether the registered filter's module exports stream callback `name` (off wasm).
#[cfg(all(
    any(feature = "testing", feature = "dynamic-module"),
    not(target_arch = "wasm32")
))]
pub(crate) fn exports(name: &str) -> bool {
    EXPORTED.with(|exported| exported.borrow().contains(&name))
}

/// Drops the registered plugin and every context (the emulator's teardown).
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) fn unregister() {
    // Dropped after the dispatcher is released: filters' `Drop` is user code.
    let old = state::with(|d| std::mem::replace(d, Dispatcher::new()));
    drop(old);
}

/// The configured plugin of context `root_context_id`, if it is a `P`.
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) fn configured_plugin<P: 'static>(root_context_id: u32) -> Option<Rc<P>> {
    state::root(root_context_id)?.plugin()?.downcast::<P>().ok()
}

/// Makes plugin context `context_id` (at its `proxy_on_context_create`, or when Envoy
/// first starts or configures it), of the plugin registered for its `root_id`.
#[inline(never)] // reached from three exports; once in the module is enough
fn create_root(context_id: u32) {
    logger::init();
    // Which plugin: another of the module's, if its `root_id` is this context's.
    let others = state::with(|d| !d.other_roots.is_empty());
    let root_id = others
        .then(|| host::properties::get(&["plugin_root_id"]).ok().flatten())
        .flatten();
    state::with(|d| {
        let other = d
            .other_roots
            .iter()
            .find(|(id, _)| root_id.as_deref() == Some(id.as_bytes()))
            .map(|(_, new_root)| *new_root);
        match other.or(d.new_root) {
            Some(NewRoot { make, .. }) => {
                let root = make();
                d.roots.retain(|entry| entry.context_id != context_id);
                d.roots.push(RootEntry { context_id, root });
            }
            None => log::error!("no plugin registered: is `envoy_wasm_sdk::entry!` missing?"),
        }
    });
}

/// Plugin context `context_id`, made first if this VM does not have it yet.
fn root_or_new(context_id: u32) -> Option<Rc<dyn RootContext>> {
    if let Some(root) = state::root(context_id) {
        return Some(root);
    }
    create_root(context_id);
    state::root(context_id)
}

/// Envoy created context `context_id` under plugin context `parent` (0: it is a plugin
/// context itself).
pub(crate) fn on_context_create(context_id: u32, parent: u32) {
    if parent == 0 {
        if state::root(context_id).is_none() {
            create_root(context_id);
        }
        return;
    }
    state::with(|d| {
        let prefix = d
            .roots
            .iter()
            .find(|entry| entry.context_id == parent)
            .is_none_or(|entry| entry.root.log_request_id());
        bind(d, context_id, parent, prefix);
    });
}

pub(crate) fn on_vm_start(root_context_id: u32, vm_configuration_size: usize) -> bool {
    logger::init();
    match root_or_new(root_context_id) {
        Some(root) => guarded(|| root.on_vm_start(root_context_id, vm_configuration_size)),
        None => false,
    }
}

pub(crate) fn on_configure(root_context_id: u32, configuration_size: usize) -> bool {
    logger::refresh_level();
    match root_or_new(root_context_id) {
        Some(root) => guarded(|| root.configure(root_context_id, configuration_size)),
        None => {
            log::error!("configure for unknown plugin context {root_context_id}");
            false
        }
    }
}

pub(crate) fn on_http(context_id: u32, phase: Phase, size: usize, end_of_stream: bool) -> u32 {
    let run = |filter: &mut dyn StreamContext| {
        filter.on_http(context_id, phase, size, end_of_stream, Via::HOST)
    };
    guarded(|| with_stream(context_id, run))
        .unwrap_or(Action::Continue)
        .raw()
}

/// The last look of stream `context_id`, bound elsewhere by `bound`: as [`on_log`].
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) fn on_bound_log(bound: &state::Bound, context_id: u32) {
    guarded(|| {
        with_bound(bound, context_id, |filter| {
            filter.on_stream_done(context_id)
        })
    });
}

/// Stream `context_id`, bound elsewhere, ended: its calls in flight are dropped, as
/// [`on_delete`] drops a listed stream's. Its binding goes with the object holding it.
#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
pub(crate) fn on_bound_delete(context_id: u32) {
    if !super::calls::any_made() {
        return;
    }
    if let Some(calls) =
        state::with(|d| (!d.calls.is_empty()).then(|| super::calls::take_calls(d, context_id)))
    {
        guarded(|| super::calls::drop_calls(calls, true));
    }
}

pub(crate) fn on_log(context_id: u32) {
    // A connection's last look came with its close (see `connections`).
    let connection = state::with(|d| {
        d.binding(context_id)
            .is_some_and(|b| matches!(b.slot, Slot::Connection(_) | Slot::Closed))
    });
    if !connection {
        guarded(|| with_stream(context_id, |filter| filter.on_stream_done(context_id)));
    }
}

pub(crate) fn on_delete(context_id: u32) {
    // Dropped after the dispatcher is released: a filter's `Drop` is user code.
    let gone = state::with(|d| {
        let calls = super::calls::take_calls(d, context_id);
        if let Some(at) = d.contexts.iter().position(|b| b.context_id == context_id) {
            return (Some(d.contexts.swap_remove(at)), None, calls);
        }
        let at = d.roots.iter().position(|e| e.context_id == context_id);
        (None, at.map(|at| d.roots.swap_remove(at)), calls)
    });
    if let (Some(binding), _, _) = &gone
        && matches!(binding.slot, Slot::Unmade)
    {
        misconfigured(binding.root);
    }
    let (binding, root, calls) = gone;
    let stream = binding.is_some();
    drop((binding, root));
    super::calls::drop_calls(calls, stream);
}

/// A context ended that no callback ever reached. For a plugin with only a network filter
/// (whose connections always get `proxy_on_new_connection`), that was an HTTP stream:
/// Envoy runs the module as an HTTP filter, and it filters nothing. Said once per plugin.
fn misconfigured(root_context_id: u32) {
    let Some(root) = state::root(root_context_id) else {
        return;
    };
    if root.filters() == (false, true) && !state::with(|d| d.told.contains(&root_context_id)) {
        state::with(|d| d.told.push(root_context_id));
        log::error!(
            "this plugin has a network filter only, but Envoy runs it as an HTTP filter \
             (envoy.filters.http.wasm): it filters nothing here; configure it with \
             envoy.filters.network.wasm"
        );
    }
}

pub(crate) fn on_tick(root_context_id: u32) {
    if let Some(root) = state::root(root_context_id) {
        guarded(|| root.on_tick(root_context_id));
    }
}

pub(crate) fn on_queue_ready(root_context_id: u32, queue_id: u32) {
    if let Some(root) = state::root(root_context_id) {
        guarded(|| root.on_queue_ready(root_context_id, queue_id));
    }
}

pub(crate) fn on_foreign_function(root_context_id: u32, function_id: u32, _arguments_size: usize) {
    log::debug!("foreign function {function_id} for plugin context {root_context_id}: no handler");
}

#[cfg(all(test, feature = "testing", not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::{ConfigError, HttpFilter, Plugin};

    /// A plugin whose streams each get an `F`.
    struct Quiet<F = QuietFilter>(std::marker::PhantomData<F>);
    impl<F: HttpFilter + FilterExports + Default> Plugin for Quiet<F> {
        type Config = ();
        type Filter = F;
        fn configure(_: (), _: &mut crate::ConfigureOps<Self>) -> Result<Self, ConfigError> {
            Ok(Quiet(std::marker::PhantomData))
        }
        fn create_filter(self: Rc<Self>, _: crate::NewContext) -> Option<F> {
            Some(F::default())
        }
    }
    /// A filter that implements no callback.
    #[derive(Default)]
    struct QuietFilter;
    impl HttpFilter for QuietFilter {}
    impl FilterExports for QuietFilter {
        const STATELESS: bool = true;
        const EXPORTS: &'static [&'static str] = &[];
    }

    /// The native target calls what the module exports: a module that did not say it ends
    /// its contexts would keep every connection's binding forever.
    #[test]
    fn every_module_announces_and_ends_its_contexts() {
        register::<Quiet, _>(crate::runtime::connections::NoConnections, Vec::new());
        assert!(exports("proxy_on_context_create"));
        assert!(exports("proxy_on_delete"));
        unregister();
    }

    /// Another of the module's plugins (`entry!(A, "id" => B)`) whose filter implements a
    /// callback the first plugin's does not: the module has it, so the native target runs
    /// it (a wasm module exports the union of its plugins' callbacks).
    #[test]
    fn the_module_implements_what_any_of_its_plugins_filters_does() {
        #[derive(Default)]
        struct Loud;
        impl FilterExports for Loud {
            const STATELESS: bool = true;
            const EXPORTS: &'static [&'static str] = &["proxy_on_response_body"];
        }
        impl HttpFilter for Loud {}
        let none = crate::runtime::connections::NoConnections;
        register::<Quiet, _>(none, Vec::new());
        assert!(!exports("proxy_on_response_body"));
        let other = root_of::<Quiet<Loud>, _>(none);
        register::<Quiet, _>(none, vec![("other", other)]);
        assert!(exports("proxy_on_response_body"));
        assert!(exports("proxy_on_delete"));
        unregister();
    }

    /// Streams come and go; none is kept after Envoy deletes it.
    #[test]
    fn a_deleted_stream_leaves_nothing_behind() {
        register::<Quiet, _>(crate::runtime::connections::NoConnections, Vec::new());
        on_context_create(1, 0);
        for stream in 2..50 {
            on_context_create(stream, 1);
            on_delete(stream);
        }
        assert_eq!(state::with(|d| d.contexts.len()), 0);
        unregister();
    }
}
