//! `#[http_filter]`, re-exported as `envoy_wasm_sdk::http_filter`; see its documentation
//! there. Written against `proc_macro` alone: it only needs the implemented method names
//! and the filter's type, so it pulls no parser into filter builds.

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// Trait methods and the guest export each one needs.
const CALLBACKS: [(&str, &str, &str); 7] = [
    (
        "on_request_headers",
        "proxy_on_request_headers",
        "context_id: u32, headers: usize, end_of_stream: u32) -> u32",
    ),
    (
        "on_request_body",
        "proxy_on_request_body",
        "context_id: u32, body_size: usize, end_of_stream: u32) -> u32",
    ),
    (
        "on_request_trailers",
        "proxy_on_request_trailers",
        "context_id: u32, trailers: usize) -> u32",
    ),
    (
        "on_response_headers",
        "proxy_on_response_headers",
        "context_id: u32, headers: usize, end_of_stream: u32) -> u32",
    ),
    (
        "on_response_body",
        "proxy_on_response_body",
        "context_id: u32, body_size: usize, end_of_stream: u32) -> u32",
    ),
    (
        "on_response_trailers",
        "proxy_on_response_trailers",
        "context_id: u32, trailers: usize) -> u32",
    ),
    ("on_stream_done", "proxy_on_log", "context_id: u32)"),
];

/// Network filter methods and their exports; `None` for a method: exported whether or
/// not the filter implements it (it begins or ends the connection's filter).
const NETWORK_CALLBACKS: [(Option<&str>, &str, &str); 5] = [
    (None, "proxy_on_new_connection", "context_id: u32) -> u32"),
    (
        Some("on_downstream_data"),
        "proxy_on_downstream_data",
        "context_id: u32, data_size: usize, end_of_stream: u32) -> u32",
    ),
    (
        Some("on_upstream_data"),
        "proxy_on_upstream_data",
        "context_id: u32, data_size: usize, end_of_stream: u32) -> u32",
    ),
    (
        None,
        "proxy_on_downstream_connection_close",
        "context_id: u32, peer_type: u32)",
    ),
    (
        Some("on_upstream_close"),
        "proxy_on_upstream_connection_close",
        "context_id: u32, peer_type: u32)",
    ),
];

/// Exports a filter to Envoy: put it on `impl HttpFilter for YourFilter`.
///
/// Envoy calls a stream callback only if the module exports it, and each call is a VM
/// crossing (about 2 µs of Envoy CPU). This attribute exports exactly the callbacks the
/// impl block defines, plus `proxy_on_delete`, which drops the stream's filter when the
/// stream ends; `proxy_on_log` only if it defines `on_stream_done`. The filter is made at
/// the stream's first callback, so Envoy need not announce streams
/// (`proxy_on_context_create` is not exported): a filter with state per stream costs one
/// crossing more than a stateless one, the one that frees it.
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
/// `Drop` (checked at compile time). The SDK then keeps no value per stream and does not
/// export `proxy_on_delete`, so Envoy does not call into the module when a stream ends: a
/// stateless filter costs only its own callbacks.
/// Its plugin's `create_filter` is called once, when the plugin is configured, instead of
/// per stream.
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
///     fn create_filter(self: Rc<Self>) -> QuietFilter {
///         QuietFilter
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
    with_exports(item.clone(), expand(args, item))
}

/// Exports a network filter to Envoy: put it on `impl NetworkFilter for YourFilter`
/// (re-exported as `envoy_wasm_sdk::network::network_filter`; see the `network` module).
///
/// It exports the data callbacks and `proxy_on_upstream_connection_close` the filter
/// implements, and always `proxy_on_new_connection` and
/// `proxy_on_downstream_connection_close`, which begin and end the connection's filter.
#[proc_macro_attribute]
pub fn network_filter(args: TokenStream, item: TokenStream) -> TokenStream {
    let generated = if args.is_empty() {
        expand_network(item.clone())
    } else {
        Err(format!(
            "#[network_filter]: takes no arguments (found `{args}`)"
        ))
    };
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
    let generated = if args.is_empty() {
        expand_emulator_test(item)
    } else {
        Err(format!(
            "#[emulator_test]: takes no arguments (found `{args}`)"
        ))
    };
    generated.unwrap_or_else(|message| {
        format!("::core::compile_error!({message:?});")
            .parse()
            .unwrap_or_default()
    })
}

fn expand_emulator_test(item: TokenStream) -> Result<TokenStream, String> {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let usage = "#[emulator_test] goes on a test function: `fn name() { ... }`";
    let fn_at = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
        .ok_or(usage)?;
    let name = match tokens.get(fn_at + 1) {
        Some(TokenTree::Ident(name)) => name.to_string(),
        _ => return Err(usage.into()),
    };
    let body = match tokens.last() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g.to_string(),
        _ => return Err(usage.into()),
    };
    let attributes: String = tokens[..fn_at]
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "#[test] {attributes} fn {name}() {body}
        #[test] {attributes} fn {name}_on_wasm() {{
            ::envoy_wasm_sdk::testing::on_wasm(env!(\"CARGO_PKG_NAME\"), env!(\"CARGO_MANIFEST_DIR\"), || {body});
        }}"
    )
    .parse()
    .map_err(|e| format!("#[emulator_test]: {e:?}"))
}

/// The impl block as it is, followed by what was generated (or the error).
fn with_exports(item: TokenStream, generated: Result<TokenStream, String>) -> TokenStream {
    match generated {
        Ok(generated) => {
            let mut out = item;
            out.extend(generated);
            out
        }
        Err(message) => format!("::core::compile_error!({message:?});")
            .parse()
            .unwrap_or(item),
    }
}

/// The implementing type and the methods an `impl Trait for Type { ... }` block defines.
fn impl_block(
    item: TokenStream,
    attribute: &str,
    trait_name: &str,
) -> Result<(String, Vec<String>), String> {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let usage = format!("#[{attribute}] goes on `impl {trait_name} for YourFilter {{ ... }}`");
    let is_ident =
        |t: &TokenTree, word: &str| matches!(t, TokenTree::Ident(i) if i.to_string() == word);
    if !tokens.first().is_some_and(|t| is_ident(t, "impl")) {
        return Err(usage);
    }
    if matches!(tokens.get(1), Some(TokenTree::Punct(p)) if p.as_char() == '<') {
        return Err(format!(
            "#[{attribute}]: a filter exported to Envoy must be a concrete type, not generic"
        ));
    }
    let for_at = tokens
        .iter()
        .position(|t| is_ident(t, "for"))
        .ok_or(usage.clone())?;
    let (body_at, body) = tokens
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, t)| match t {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => Some((i, g.stream())),
            _ => None,
        })
        .ok_or(usage)?;
    let self_type: String = tokens[for_at + 1..body_at]
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let body: Vec<TokenTree> = body.into_iter().collect();
    let implemented: Vec<String> = body
        .windows(2)
        .filter(|pair| is_ident(&pair[0], "fn"))
        .map(|pair| pair[1].to_string())
        .collect();
    Ok((self_type, implemented))
}

const SDK: &str = "::envoy_wasm_sdk::__private";

/// `#[unsafe(export_name = "...")] extern "C" fn ...` forwarding to the SDK's export.
fn export(export: &str, signature: &str) -> String {
    let args: Vec<&str> = signature
        .split(')')
        .next()
        .unwrap_or_default()
        .split(',')
        .map(|arg| arg.split(':').next().unwrap_or_default().trim())
        .collect();
    format!(
        "#[unsafe(export_name = \"{export}\")] extern \"C\" fn {export}({signature} {{ {SDK}::exports::{export}({}) }}\n",
        args.join(", ")
    )
}

/// The exported names, for an in-process host to call only what Envoy would.
fn exported_names(exports: &str) -> String {
    exports
        .match_indices("export_name = \"")
        .map(|(at, _)| {
            let rest = &exports[at + 15..];
            format!("{:?}", &rest[..rest.find('"').unwrap_or(0)])
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn expand_network(item: TokenStream) -> Result<TokenStream, String> {
    let (self_type, implemented) = impl_block(item, "network_filter", "NetworkFilter")?;
    let mut exports = String::new();
    for (method, name, signature) in NETWORK_CALLBACKS {
        if method.is_none_or(|method| implemented.iter().any(|name| name == method)) {
            exports.push_str(&export(name, signature));
        }
    }
    let exported = exported_names(&exports);
    format!(
        "impl {SDK}::ConnectionExports for {self_type} {{ const EXPORTS: &'static [&'static str] = &[{exported}]; }}
        #[cfg(target_arch = \"wasm32\")]
        const _: () = {{ {exports} }};"
    )
    .parse()
    .map_err(|e| format!("#[network_filter]: {e:?}"))
}

fn expand(args: TokenStream, item: TokenStream) -> Result<TokenStream, String> {
    let stateless = match args.to_string().trim() {
        "" => false,
        "stateless" => true,
        other => {
            return Err(format!(
                "#[http_filter]: unknown argument `{other}` (expected nothing or `stateless`)"
            ));
        }
    };
    let (self_type, implemented) = impl_block(item, "http_filter", "HttpFilter")?;
    let mut exports = String::new();
    for (method, name, signature) in CALLBACKS {
        if implemented.iter().any(|name| name == method) {
            exports.push_str(&export(name, signature));
        }
    }
    // A filter with state per stream is made at the stream's first callback, so Envoy need
    // not announce streams (`proxy_on_context_create`); it is freed in `proxy_on_delete`.
    if !stateless {
        exports.push_str(&export("proxy_on_delete", "context_id: u32)"));
    }
    let check = if stateless {
        format!(
            "const _: () = ::core::assert!(::core::mem::size_of::<{self_type}>() == 0 && !::core::mem::needs_drop::<{self_type}>(), \"#[http_filter(stateless)] needs a filter that holds nothing: a unit struct without Drop\");"
        )
    } else {
        String::new()
    };
    let exported = exported_names(&exports);
    format!(
        "impl {SDK}::FilterExports for {self_type} {{ const STATELESS: bool = {stateless}; const EXPORTS: &'static [&'static str] = &[{exported}]; }}
        {check}
        #[cfg(target_arch = \"wasm32\")]
        const _: () = {{ {exports} }};"
    )
    .parse()
    .map_err(|e| format!("#[http_filter]: {e:?}"))
}
