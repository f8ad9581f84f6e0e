//! The traits the dispatcher holds contexts by: [`RootContext`] (one per plugin context,
//! typed by its plugin inside), [`StreamContext`] (one per HTTP stream, typed by its
//! filter inside) and [`ConnectionContext`] (one per connection), with what they pass.

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
        binding: &std::cell::RefCell<super::state::Binding>,
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
