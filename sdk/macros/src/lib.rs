//! The attributes of `envoy-wasm-sdk`, which re-exports them (see their documentation
//! there): `#[http_filter]`, `#[network_filter]` and `#[emulator_test]`. Parsed with
//! `syn`, so a mistake is reported at the user's own tokens.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Error, Ident, ImplItem, ItemFn, ItemImpl, ReturnType};

/// A filter method (`None`: exported whether or not the filter implements it), the guest
/// export Envoy calls for it, the export's parameters after `context_id: u32` and whether
/// it returns a status.
type Callback = (Option<&'static str>, &'static str, Params, bool);
type Params = &'static [(&'static str, &'static str)];

const HEADERS: Params = &[("headers", "usize"), ("end_of_stream", "u32")];
const BODY: Params = &[("body_size", "usize"), ("end_of_stream", "u32")];
const TRAILERS: Params = &[("trailers", "usize")];
const DATA: Params = &[("data_size", "usize"), ("end_of_stream", "u32")];
const CLOSE: Params = &[("peer_type", "u32")];

/// The stream callbacks of `HttpFilter`.
#[rustfmt::skip]
const HTTP_CALLBACKS: [Callback; 7] = [
    (Some("on_request_headers"),   "proxy_on_request_headers",   HEADERS,  true),
    (Some("on_request_body"),      "proxy_on_request_body",      BODY,     true),
    (Some("on_request_trailers"),  "proxy_on_request_trailers",  TRAILERS, true),
    (Some("on_response_headers"),  "proxy_on_response_headers",  HEADERS,  true),
    (Some("on_response_body"),     "proxy_on_response_body",     BODY,     true),
    (Some("on_response_trailers"), "proxy_on_response_trailers", TRAILERS, true),
    (Some("on_stream_done"),       "proxy_on_log",               &[],      false),
];

/// The connection callbacks of `NetworkFilter`: a new connection and the downstream close
/// begin and end the filter, so they are always exported.
#[rustfmt::skip]
const NETWORK_CALLBACKS: [Callback; 5] = [
    (None,                       "proxy_on_new_connection",              &[],   true),
    (Some("on_downstream_data"), "proxy_on_downstream_data",             DATA,  true),
    (Some("on_upstream_data"),   "proxy_on_upstream_data",               DATA,  true),
    (None,                       "proxy_on_downstream_connection_close", CLOSE, false),
    (Some("on_upstream_close"),  "proxy_on_upstream_connection_close",   CLOSE, false),
];

/// Exports a filter to Envoy: put it on `impl HttpFilter for YourFilter`.
///
/// Envoy calls a stream callback only if the module exports it, and each call is a VM
/// crossing (about 2 µs of Envoy CPU). This attribute exports exactly the callbacks the
/// impl block defines; `proxy_on_log` only if it defines `on_stream_done`. The SDK itself
/// exports `proxy_on_context_create` and `proxy_on_delete`: Envoy announces each stream
/// with the plugin context it belongs to, which is how a stream finds its own plugin when
/// several configurations of one module share a VM, and ends it. The filter is made at
/// the stream's first callback.
///
/// ```
/// use envoy_wasm_sdk::prelude::*;
///
/// struct AddHeader;
///
/// #[envoy_wasm_sdk::http_filter(stateless)]
/// impl HttpFilter for AddHeader {
///     fn on_response_headers(&mut self, resp: &mut ResponseHeadersOps<Self>) -> Result<Action, Error> {
///         resp.headers().add("x-served-by", "wasm")?;
///         Ok(Action::Continue)
///     }
/// }
/// ```
///
/// `stateless` declares that the filter keeps nothing per stream: a unit struct without
/// `Drop` (checked at compile time). The SDK then keeps one value per plugin, made at its
/// first stream, and allocates nothing per stream; `create_filter` is still asked for each
/// stream (it may decline one), and the value it returns, which holds nothing, is dropped.
/// Why a filter that reads its plugin's configuration is not stateless: it holds the
/// plugin (an `Rc`), and that is state.
/// A filter that holds anything (an `Rc` of its plugin, a buffer) leaves it out:
///
/// ```compile_fail
/// use envoy_wasm_sdk::prelude::*;
///
/// struct Counts(u32);
///
/// #[envoy_wasm_sdk::http_filter(stateless)] // error: `Counts` holds a `u32`
/// impl HttpFilter for Counts {}
/// ```
///
/// Forgetting the attribute is a compile error at `entry!`, since the filter would
/// otherwise never be called:
///
/// ```compile_fail
/// use envoy_wasm_sdk::prelude::*;
/// use std::rc::Rc;
///
/// struct Quiet;
///
/// impl Plugin for Quiet {
///     type Config = ();
///     type Filter = QuietFilter;
///     fn configure(_: (), _: &mut ConfigureOps<Self>) -> Result<Self, ConfigError> {
///         Ok(Quiet)
///     }
///     fn create_filter(self: Rc<Self>, _stream: NewContext) -> Option<QuietFilter> {
///         Some(QuietFilter)
///     }
/// }
///
/// struct QuietFilter;
///
/// impl HttpFilter for QuietFilter {} // error at entry!: not exported to Envoy
///
/// envoy_wasm_sdk::entry!(Quiet);
/// ```
#[proc_macro_attribute]
pub fn http_filter(args: TokenStream, item: TokenStream) -> TokenStream {
    let generated = stateless(args.into()).and_then(|stateless| {
        let (self_ty, implemented) = filter_impl(item.clone(), "http_filter", "HttpFilter")?;
        let exported = exports(&HTTP_CALLBACKS, &implemented);
        let names = exported.iter().map(|(name, _)| name);
        let functions = exported.iter().map(|(_, function)| function);
        // Spanned at the filter's type, so a filter that holds something is reported there.
        let check = stateless.then(|| {
            quote_spanned! {self_ty.span()=>
                const _: () = ::core::assert!(
                    ::core::mem::size_of::<#self_ty>() == 0 && !::core::mem::needs_drop::<#self_ty>(),
                    "#[http_filter(stateless)] needs a filter that holds nothing: a unit struct without Drop"
                );
            }
        });
        Ok(quote! {
            impl ::envoy_wasm_sdk::__private::FilterExports for #self_ty {
                const STATELESS: bool = #stateless;
                const EXPORTS: &'static [&'static str] = &[#(#names),*];
            }
            #check
            #[cfg(target_arch = "wasm32")]
            const _: () = { #(#functions)* };
        })
    });
    with_exports(item, generated)
}

/// Exports a network filter to Envoy: put it on `impl NetworkFilter for YourFilter`
/// (re-exported as `envoy_wasm_sdk::network::network_filter`; see the `network` module).
///
/// It exports the data callbacks and `proxy_on_upstream_connection_close` the filter
/// implements, and always `proxy_on_new_connection` and
/// `proxy_on_downstream_connection_close`, which begin and end the connection's filter.
#[proc_macro_attribute]
pub fn network_filter(args: TokenStream, item: TokenStream) -> TokenStream {
    let generated = no_arguments("network_filter", args).and_then(|()| {
        let (self_ty, implemented) = filter_impl(item.clone(), "network_filter", "NetworkFilter")?;
        let exported = exports(&NETWORK_CALLBACKS, &implemented);
        let names = exported.iter().map(|(name, _)| name);
        let functions = exported.iter().map(|(_, function)| function);
        Ok(quote! {
            impl ::envoy_wasm_sdk::__private::ConnectionExports for #self_ty {
                const EXPORTS: &'static [&'static str] = &[#(#names),*];
            }
            #[cfg(target_arch = "wasm32")]
            const _: () = { #(#functions)* };
        })
    });
    with_exports(item, generated)
}

/// Runs an emulator test twice: as written, against the filter crate linked into the test,
/// and again against the crate's compiled `.wasm` in an embedded VM (re-exported as
/// `envoy_wasm_sdk::testing::emulator_test`). Every `Emulator::new(register_plugin)` in the
/// second run loads `target/wasm32-wasip1/release/<crate>.wasm`, which must be built first;
/// the test says so when it is not.
///
/// ```ignore
/// use envoy_wasm_sdk::testing::{Emulator, Request, emulator_test};
///
/// #[emulator_test]
/// fn adds_the_header() {
///     let envoy = Emulator::new(my_filter::register_plugin);
///     envoy.configure("").unwrap();
///     assert_eq!(envoy.send(Request::get("/")).response().header("x-hello"), Some("world"));
/// }
/// // Two tests: `adds_the_header` and `adds_the_header_on_wasm`.
/// ```
#[proc_macro_attribute]
pub fn emulator_test(args: TokenStream, item: TokenStream) -> TokenStream {
    no_arguments("emulator_test", args)
        .and_then(|()| expand_emulator_test(item))
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

fn expand_emulator_test(item: TokenStream) -> syn::Result<TokenStream2> {
    let usage = "#[emulator_test] goes on a test function: `fn name() { ... }`";
    let test: ItemFn = syn::parse(item.clone()).map_err(|e| Error::new(e.span(), usage))?;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = &test;
    let refuse = |tokens: &dyn ToTokens, what: &str| {
        let message = format!("#[emulator_test]: a test function {what}: `fn name() {{ ... }}`");
        Err(Error::new_spanned(tokens, message))
    };
    if let Some(asyncness) = &sig.asyncness {
        return refuse(asyncness, "is not async");
    }
    if !sig.generics.params.is_empty() {
        return refuse(&sig.generics, "is not generic");
    }
    if !sig.inputs.is_empty() {
        return refuse(&sig.inputs, "takes no parameters");
    }
    if let ReturnType::Type(..) = sig.output {
        return refuse(&sig.output, "returns nothing (it panics to fail)");
    }
    // The test's own tokens, spans and all, in both runs: a failing assertion is reported at
    // its own line in each.
    let as_written = TokenStream2::from(item);
    let on_wasm = format_ident!("{}_on_wasm", sig.ident);
    Ok(quote! {
        #[test]
        #as_written
        #[test]
        #(#attrs)*
        #vis fn #on_wasm() {
            ::envoy_wasm_sdk::testing::on_wasm(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_MANIFEST_DIR"),
                move || #block,
            );
        }
    })
}

/// `#[http_filter]`'s one optional argument, `stateless`.
fn stateless(args: TokenStream2) -> syn::Result<bool> {
    if args.is_empty() {
        return Ok(false);
    }
    match syn::parse2::<Ident>(args.clone()) {
        Ok(word) if word == "stateless" => Ok(true),
        _ => Err(Error::new_spanned(
            args,
            "#[http_filter]: unknown argument (expected nothing or `stateless`)",
        )),
    }
}

/// The other attributes take no arguments.
fn no_arguments(attribute: &str, args: TokenStream) -> syn::Result<()> {
    if args.is_empty() {
        return Ok(());
    }
    let message = format!("#[{attribute}] takes no arguments");
    Err(Error::new_spanned(TokenStream2::from(args), message))
}

/// The filter type of `impl Trait for Type { ... }` and the methods the block defines.
fn filter_impl(
    item: TokenStream,
    attribute: &str,
    trait_name: &str,
) -> syn::Result<(syn::Type, Vec<String>)> {
    let usage = format!("#[{attribute}] goes on `impl {trait_name} for YourFilter {{ ... }}`");
    let block: ItemImpl = syn::parse(item).map_err(|e| Error::new(e.span(), &usage))?;
    let Some((_, path, _)) = &block.trait_ else {
        return Err(Error::new_spanned(&block.self_ty, usage));
    };
    // The other attribute's trait: a mix-up, said as such.
    let (other, other_attribute) = match trait_name {
        "HttpFilter" => ("NetworkFilter", "network_filter"),
        _ => ("HttpFilter", "http_filter"),
    };
    if path.segments.last().is_some_and(|s| s.ident == other) {
        let message = format!(
            "#[{attribute}] is for `impl {trait_name}`: an `impl {other}` takes #[{other_attribute}]"
        );
        return Err(Error::new_spanned(path, message));
    }
    if !block.generics.params.is_empty() {
        let message = format!(
            "#[{attribute}]: a filter exported to Envoy must be a concrete type, not generic"
        );
        return Err(Error::new_spanned(&block.generics, message));
    }
    let implemented = block.items.iter().filter_map(|item| match item {
        ImplItem::Fn(function) => Some(function.sig.ident.to_string()),
        _ => None,
    });
    Ok((*block.self_ty, implemented.collect()))
}

/// The exported names and their `extern "C"` functions, each forwarding to the SDK's
/// export of the same name: the callbacks `implemented` defines and those always exported.
fn exports(callbacks: &[Callback], implemented: &[String]) -> Vec<(String, TokenStream2)> {
    let ident = |name: &str| Ident::new(name, Span::call_site());
    callbacks
        .iter()
        .filter(|(method, ..)| method.is_none_or(|method| implemented.iter().any(|m| m == method)))
        .map(|&(_, export, params, status)| {
            let name = ident(export);
            let args: Vec<Ident> = params.iter().map(|(arg, _)| ident(arg)).collect();
            let types = params.iter().map(|(_, ty)| ident(ty));
            let returns = status.then(|| quote!(-> u32));
            let function = quote! {
                #[unsafe(export_name = #export)]
                extern "C" fn #name(context_id: u32, #(#args: #types),*) #returns {
                    ::envoy_wasm_sdk::__private::exports::#name(context_id, #(#args),*)
                }
            };
            (export.to_owned(), function)
        })
        .collect()
}

/// The impl block as it is, followed by what was generated or the error.
fn with_exports(item: TokenStream, generated: syn::Result<TokenStream2>) -> TokenStream {
    let mut out = TokenStream2::from(item);
    out.extend(generated.unwrap_or_else(Error::into_compile_error));
    out.into()
}
