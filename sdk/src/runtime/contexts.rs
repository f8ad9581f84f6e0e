//! The traits the dispatcher holds contexts by: [`RootContext`] (one per plugin context,
//! typed by its plugin inside), [`StreamContext`] (one per HTTP stream, typed by its
//! filter inside) and [`ConnectionContext`] (one per connection), with what they pass, and
//! a stream's or connection's [`Binding`] to its plugin context (its [`Slot`]).

use crate::abi::{Action, PeerType, Via};
use crate::callout::{Answer, Response};
use crate::error::Error;
use crate::host::HostResult;
use std::cell::RefMut;
use std::fmt;
use std::rc::Rc;

/// The HTTP callback being delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `proxy_on_request_headers`
    RequestHeaders,
    /// `proxy_on_request_body`
    RequestBody,
    /// `proxy_on_request_trailers`
    RequestTrailers,
    /// `proxy_on_response_headers`
    ResponseHeaders,
    /// `proxy_on_response_body`
    ResponseBody,
    /// `proxy_on_response_trailers`
    ResponseTrailers,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::RequestHeaders => "on_request_headers",
            Phase::RequestBody => "on_request_body",
            Phase::RequestTrailers => "on_request_trailers",
            Phase::ResponseHeaders => "on_response_headers",
            Phase::ResponseBody => "on_response_body",
            Phase::ResponseTrailers => "on_response_trailers",
        })
    }
}

/// What a plugin made for a new stream or connection.
pub(crate) enum Made<C: ?Sized> {
    /// Its own filter.
    Filter(Box<C>),
    /// The plugin's one stateless filter serves it.
    Stateless,
    /// The plugin declined it.
    Declined,
    /// The plugin is not configured, or has no filter of this kind.
    Unavailable,
}

/// Whether a handler ran, and what it returned.
pub(crate) type Ran = Option<Result<(), Error>>;

pub(crate) trait RootContext {
    /// The VM started with `vm_configuration_size` bytes of VM configuration.
    fn on_vm_start(&self, root_context_id: u32, vm_configuration_size: usize) -> bool;
    fn configure(&self, root_context_id: u32, configuration_size: usize) -> bool;
    /// Makes the filter of a new HTTP stream.
    fn create_stream(&self, context_id: u32) -> Made<dyn StreamContext>;
    /// Makes the filter of a new connection.
    fn create_connection(&self, context_id: u32) -> Made<dyn ConnectionContext>;
    /// The plugin's stateless filter, borrowed; `None` if it has none (or it is busy).
    fn stateless(&self) -> Option<RefMut<'_, dyn StreamContext>>;
    /// Runs `phase` of the stream bound by `binding` to this plugin context (the native
    /// target's, see [`Bound`](super::state::Bound)), its filter made at its first phase;
    /// `None` if nothing ran (declined, busy). One call, typed by the plugin inside: a
    /// stateless filter is reached without a call through a trait object.
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    fn on_bound_phase(
        &self,
        binding: &std::cell::RefCell<Binding>,
        phase: Phase,
        size: usize,
        end_of_stream: bool,
        via: Via,
    ) -> Option<Action>;
    /// Whether the plugin's streams' log lines start with their request id.
    fn log_request_id(&self) -> bool;
    /// Whether the plugin has an HTTP filter, and a network filter.
    fn filters(&self) -> (bool, bool);
    fn on_tick(&self, root_context_id: u32);
    fn on_queue_ready(&self, root_context_id: u32, queue_id: u32);
    /// The configured plugin, for the emulator to hand to a test.
    #[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
    fn plugin(&self) -> Option<Rc<dyn std::any::Any>>;
    /// Sets the plugin's tick for its streams' nearest timer, `next` (nanoseconds on the
    /// host's clock; `None` when they have none).
    fn set_streams_next(&self, next: Option<u64>, now: u64) -> HostResult<()>;
    /// Runs `answer`, a handler of one of the plugin's calls, with the plugin; `None` if
    /// it is not configured.
    fn answer(&self, root_context_id: u32, answer: &mut Answer, response: Response) -> Ran;
}

pub(crate) trait StreamContext {
    /// Runs `phase`; its header calls go `via` the route given.
    fn on_http(
        &mut self,
        context_id: u32,
        phase: Phase,
        size: usize,
        end_of_stream: bool,
        via: Via,
    ) -> Action;
    fn on_stream_done(&mut self, context_id: u32);
    /// Runs `answer`, a handler of one of this stream's calls, with its filter.
    fn answer(
        &mut self,
        context_id: u32,
        answer: &mut Answer,
        response: Response,
    ) -> Result<(), Error>;
}

/// Makes a plugin context of one plugin type, and names the callbacks its filters
/// implement (its HTTP filter's, its network filter's).
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct NewRoot {
    pub(crate) make: fn() -> Rc<dyn RootContext>,
    // Read off wasm, where the emulator or the native target needs them (a wasm module
    // exports them).
    #[cfg_attr(
        not(all(
            any(feature = "testing", feature = "dynamic-module"),
            not(target_arch = "wasm32")
        )),
        allow(dead_code)
    )]
    pub(crate) exports: [&'static [&'static str]; 2],
}

/// A connection callback, as Envoy delivers it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NetworkEvent {
    NewConnection,
    DownstreamData { size: usize, end_of_stream: bool },
    UpstreamData { size: usize, end_of_stream: bool },
    UpstreamClose(PeerType),
}

/// One connection's filter, behind a trait object.
pub(crate) trait ConnectionContext {
    fn on_event(&mut self, context_id: u32, event: NetworkEvent) -> Action;
    /// The downstream close and the last look, once.
    fn finish(&mut self, context_id: u32, peer: PeerType);
}

/// What a stream's or connection's context holds.
pub(crate) enum Slot {
    /// Bound to its plugin; its filter is made at its first callback (Envoy does not say at
    /// creation whether a context is an HTTP stream or a connection).
    Unmade,
    /// Its filter is running (taken out, so that no borrow is held during user code).
    Busy,
    /// The plugin declined it: no filter, nothing runs for it.
    Declined,
    /// Its plugin's one stateless filter serves it.
    Stateless,
    /// An HTTP stream's filter.
    Stream(Box<dyn StreamContext>),
    /// A connection's network filter.
    Connection(Box<dyn ConnectionContext>),
    /// A connection whose close was delivered (kept until `proxy_on_delete`, so that
    /// `proxy_on_log` does not take it for an HTTP stream).
    Closed,
}

/// A stream's request id, for its log lines: read at its first line, at most once.
pub(crate) enum RequestId {
    /// The plugin does not prefix its lines.
    Off,
    Unread,
    Missing,
    Known(Box<str>),
}

/// A stream or connection: the plugin context it belongs to and what it holds.
pub(crate) struct Binding {
    pub(crate) context_id: u32,
    /// The plugin context Envoy created it under.
    pub(crate) root: u32,
    pub(crate) slot: Slot,
    pub(crate) request_id: RequestId,
}

impl Binding {
    /// Context `context_id`, bound to plugin context `root`, its filter not made yet; its
    /// log lines carry its request id if `log_prefix`.
    pub(crate) fn new(context_id: u32, root: u32, log_prefix: bool) -> Binding {
        Binding {
            context_id,
            root,
            slot: Slot::Unmade,
            request_id: if log_prefix {
                RequestId::Unread
            } else {
                RequestId::Off
            },
        }
    }

    /// Binds it anew to the same plugin context, as [`new`](Self::new) makes one: for a
    /// next stream (the native target reuses an ended stream's binding), its log lines
    /// prefixed as before. What it held is dropped only if it needs a drop (a filter of its
    /// own, a request id read): no call to drop a binding that holds nothing.
    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    pub(crate) fn rebind(&mut self, context_id: u32) {
        self.context_id = context_id;
        match std::mem::replace(&mut self.slot, Slot::Unmade) {
            own @ (Slot::Stream(_) | Slot::Connection(_)) => drop(own),
            nothing => std::mem::forget(nothing),
        }
        if !matches!(self.request_id, RequestId::Off | RequestId::Unread) {
            self.request_id = RequestId::Unread;
        }
    }

    /// The request id for the stream's log lines: read at its first line, once.
    pub(crate) fn request_id(&mut self) -> Option<Box<str>> {
        if let RequestId::Unread = self.request_id {
            self.request_id = match crate::host::properties::get(&["request", "id"]) {
                Ok(Some(id)) => RequestId::Known(String::from_utf8_lossy(&id).into_owned().into()),
                _ => RequestId::Missing,
            };
        }
        match &self.request_id {
            RequestId::Known(id) => Some(id.clone()),
            _ => None,
        }
    }
}

#[cfg(all(test, feature = "dynamic-module", not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// A binding bound anew is the binding `Binding::new` makes for the same plugin context:
    /// its new id, an unmade filter, its request id unread (or off, as before), whatever it
    /// held before.
    #[test]
    fn a_binding_bound_anew_is_a_new_binding() {
        let mut binding = Binding::new(3, 1, true);
        binding.slot = Slot::Stateless;
        binding.request_id = RequestId::Known("abc".into());
        binding.rebind(4);
        assert_eq!((binding.context_id, binding.root), (4, 1));
        assert!(matches!(binding.slot, Slot::Unmade));
        assert!(matches!(binding.request_id, RequestId::Unread));

        let mut binding = Binding::new(5, 2, false);
        binding.slot = Slot::Declined;
        binding.rebind(6);
        assert_eq!((binding.context_id, binding.root), (6, 2));
        assert!(matches!(binding.slot, Slot::Unmade));
        assert!(matches!(binding.request_id, RequestId::Off));
    }
}
