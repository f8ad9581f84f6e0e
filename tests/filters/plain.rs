//! A plugin without configuration that serves every stream with a new `F::default()`:
//! for test filters whose logic is all in the filter. Shared as a source file (`#[path]`)
//! by the test filters that need it and by the SDK's own tests (`sdk/tests`):
//! `envoy_wasm_sdk::entry!(Plain<MyFilter>);`.

use envoy_wasm_sdk::prelude::*;
use std::marker::PhantomData;
use std::rc::Rc;

/// The plugin; `F` is the filter.
pub struct Plain<F>(PhantomData<F>);

impl<F: HttpFilter + Default> Plugin for Plain<F> {
    type Config = ();
    type Filter = F;

    fn configure(_: (), _ctx: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
        Ok(Plain(PhantomData))
    }

    fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<F> {
        Some(F::default())
    }
}
