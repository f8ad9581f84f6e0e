//! A plugin context and a stream's filter, behind the traits the dispatcher holds them by
//! ([`contexts`](super::contexts)).

use crate::abi::{Action, BufferType, StreamType, Via};
use crate::callout::{Answer, Owner, Response};
use crate::config::{self, ConfigError};
use crate::error::Error;
use crate::filter::{
    FilterExports, HttpFilter, RequestBodyOps, RequestHeadersOps, RequestTrailersOps,
    ResponseBodyOps, ResponseHeadersOps, ResponseTrailersOps, StreamDoneOps,
};
use crate::host::{self, HostResult};
use crate::plugin::{ConfigureOps, NewContext, Plugin, PluginOps, PluginServices, VmStartOps};
use crate::runtime::access::answer_error;
use crate::runtime::connections::Connections;
use crate::runtime::contexts::{ConnectionContext, Made, Phase, Ran, RootContext, StreamContext};
use crate::shared::SharedQueue;
use std::cell::{RefCell, RefMut};
use std::rc::Rc;

pub(crate) fn new_root<P: Plugin, C: Connections<P>>() -> Rc<dyn RootContext>
where
    P::Filter: FilterExports,
{
    Rc::new(Root::<P, C> {
        plugin: RefCell::new(None),
        stateless: RefCell::new(None),
        services: PluginServices::default(),
        connections: std::marker::PhantomData,
    })
}

struct Root<P: Plugin, C> {
    plugin: RefCell<Option<Rc<P>>>,
    /// The one value of a stateless filter, made at the plugin's first stream; `None`
    /// before, and while it runs.
    stateless: RefCell<Option<Filter<P::Filter>>>,
    services: PluginServices<P>,
    connections: std::marker::PhantomData<C>,
}

impl<P: Plugin, C: Connections<P>> Root<P, C> {
    fn plugin(&self) -> Option<Rc<P>> {
        self.plugin.borrow().clone()
    }
}

/// Reads plugin buffer `buffer` (`size` bytes: 0 for none).
fn read_buffer(buffer: BufferType, size: usize) -> Result<Vec<u8>, ConfigError> {
    if size == 0 {
        return Ok(Vec::new());
    }
    Ok(host::buffers::get(buffer, 0, size)?.unwrap_or_default())
}

/// Logs why the plugin refused to start (and keeps it for the emulator).
fn refused(error: ConfigError, what: &str) -> bool {
    log::error!("invalid {what}: {error}");
    #[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
    super::state::keep_refused_config(error);
    false
}

impl<P: Plugin, C: Connections<P>> RootContext for Root<P, C>
where
    P::Filter: FilterExports,
{
    fn on_vm_start(&self, root_context_id: u32, vm_configuration_size: usize) -> bool {
        let started = read_buffer(BufferType::VmConfiguration, vm_configuration_size)
            .and_then(|bytes| P::on_vm_start(&mut VmStartOps::new(root_context_id, bytes)));
        match started {
            Ok(()) => true,
            Err(error) => refused(error, "VM configuration"),
        }
    }

    fn configure(&self, root_context_id: u32, configuration_size: usize) -> bool {
        self.services.identify();
        let plugin = read_buffer(BufferType::PluginConfiguration, configuration_size)
            .and_then(|bytes| config::parse::<P::Config>(&bytes))
            .and_then(|config| {
                P::configure(
                    config,
                    &mut ConfigureOps::new(root_context_id, &self.services),
                )
            });
        match plugin {
            Ok(plugin) => {
                *self.plugin.borrow_mut() = Some(Rc::new(plugin));
                // A new configuration makes its stateless filter anew.
                *self.stateless.borrow_mut() = None;
                true
            }
            Err(error) => refused(error, "plugin configuration"),
        }
    }

    fn create_stream(&self, context_id: u32) -> Made<dyn StreamContext> {
        if <P::Filter as FilterExports>::EXPORTS.is_empty() {
            return Made::Unavailable;
        }
        let Some(plugin) = self.plugin() else {
            return Made::Unavailable;
        };
        let Some(filter) = plugin.create_filter(NewContext::new(context_id)) else {
            return Made::Declined;
        };
        // Decided at compile time: a stateless module links no per-stream allocation.
        if <P::Filter as FilterExports>::STATELESS {
            if let Ok(mut slot) = self.stateless.try_borrow_mut() {
                slot.get_or_insert_with(|| Filter::new(filter));
            }
            return Made::Stateless;
        }
        Made::Filter(Box::new(Filter::new(filter)))
    }

    fn create_connection(&self, context_id: u32) -> Made<dyn ConnectionContext> {
        match self.plugin() {
            Some(plugin) => C::create(plugin, NewContext::new(context_id)),
            None => Made::Unavailable,
        }
    }

    fn stateless(&self) -> Option<RefMut<'_, dyn StreamContext>> {
        // Borrowed while it runs: a callback that re-enters the guest finds it busy.
        let slot = self.stateless.try_borrow_mut().ok()?;
        RefMut::filter_map(slot, |slot| {
            slot.as_mut().map(|filter| filter as &mut dyn StreamContext)
        })
        .ok()
    }

    #[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
    fn on_bound_phase(
        &self,
        binding: &RefCell<super::contexts::Binding>,
        phase: Phase,
        size: usize,
        end_of_stream: bool,
        via: Via,
    ) -> Option<Action> {
        use super::contexts::Slot;
        // Busy if a callback of the stream re-entered the guest: nothing runs then.
        let mut held = binding.try_borrow_mut().ok()?;
        let context_id = held.context_id;
        match held.slot {
            Slot::Stateless => drop(held),
            // A stateless filter's plugin makes none of its own: the slot says whether the
            // plugin serves the stream, with no call through the trait.
            Slot::Unmade if <P::Filter as FilterExports>::STATELESS => {
                // Neither `Unmade` nor `Busy` holds anything to drop.
                std::mem::forget(std::mem::replace(&mut held.slot, Slot::Busy));
                drop(held);
                let serves = matches!(self.create_stream(context_id), Made::Stateless);
                let slot = if serves {
                    Slot::Stateless
                } else {
                    Slot::Declined
                };
                if let Ok(mut held) = binding.try_borrow_mut() {
                    std::mem::forget(std::mem::replace(&mut held.slot, slot));
                }
                if !serves {
                    return None;
                }
            }
            _ => {
                drop(held);
                return super::access::with_binding(binding, self, context_id, |filter| {
                    filter.on_http(context_id, phase, size, end_of_stream, via)
                });
            }
        }
        let mut stateless = self.stateless.try_borrow_mut().ok()?;
        let filter = stateless.as_mut()?;
        Some(filter.on_http(context_id, phase, size, end_of_stream, via))
    }

    fn log_request_id(&self) -> bool {
        P::LOG_REQUEST_ID
    }

    fn filters(&self) -> (bool, bool) {
        (
            !<P::Filter as FilterExports>::EXPORTS.is_empty(),
            !C::exports().is_empty(),
        )
    }

    fn on_tick(&self, root_context_id: u32) {
        if let Some(plugin) = self.plugin() {
            self.services.run_due_timers(&plugin, root_context_id);
        }
        let streams = super::state::with(|d| d.stream_tick);
        if let Some(run) = streams {
            run(root_context_id);
        }
    }

    fn on_queue_ready(&self, root_context_id: u32, queue_id: u32) {
        if let Some(plugin) = self.plugin() {
            plugin.on_queue_ready(
                SharedQueue::from_id(queue_id),
                &mut PluginOps::new(root_context_id, &self.services),
            );
        }
    }

    #[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
    fn plugin(&self) -> Option<Rc<dyn std::any::Any>> {
        let plugin = self.plugin.borrow().clone()?;
        Some(plugin)
    }

    fn set_streams_next(&self, next: Option<u64>, now: u64) -> HostResult<()> {
        let mut timers = self.services.timers.borrow_mut();
        timers.tick.streams_next = next;
        timers.tick.arm(now)
    }

    fn answer(&self, root_context_id: u32, answer: &mut Answer, response: Response) -> Ran {
        let plugin = self.plugin()?;
        let owner = Owner::Plugin {
            root_context_id,
            plugin: &*plugin,
            services: &self.services,
        };
        Some(answer.run(owner, response))
    }
}

/// A stream's filter.
pub(crate) struct Filter<F: HttpFilter> {
    filter: F,
}

impl<F: HttpFilter> Filter<F> {
    const fn new(filter: F) -> Self {
        Filter { filter }
    }
}

impl<F: HttpFilter> StreamContext for Filter<F> {
    fn on_http(&mut self, id: u32, phase: Phase, size: usize, eos: bool, via: Via) -> Action {
        let f = &mut self.filter;
        let result = match phase {
            Phase::RequestHeaders => {
                f.on_request_headers(&mut RequestHeadersOps::new(id, eos, via))
            }
            Phase::RequestBody => f.on_request_body(&mut RequestBodyOps::new(id, size, eos, via)),
            Phase::RequestTrailers => f.on_request_trailers(&mut RequestTrailersOps::new(id, via)),
            Phase::ResponseHeaders => {
                f.on_response_headers(&mut ResponseHeadersOps::new(id, eos, via))
            }
            Phase::ResponseBody => {
                f.on_response_body(&mut ResponseBodyOps::new(id, size, eos, via))
            }
            Phase::ResponseTrailers => {
                f.on_response_trailers(&mut ResponseTrailersOps::new(id, via))
            }
        };
        let direction = match phase {
            Phase::ResponseHeaders | Phase::ResponseBody | Phase::ResponseTrailers => {
                StreamType::HttpResponse
            }
            _ => StreamType::HttpRequest,
        };
        result.unwrap_or_else(|error| answer_error(&phase, error, direction))
    }

    fn on_stream_done(&mut self, context_id: u32) {
        self.filter
            .on_stream_done(&mut StreamDoneOps::new(context_id));
    }

    fn answer(
        &mut self,
        context_id: u32,
        answer: &mut Answer,
        response: Response,
    ) -> Result<(), Error> {
        let filter = &mut self.filter;
        answer.run(Owner::Stream { context_id, filter }, response)
    }
}
