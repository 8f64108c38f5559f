//! Emits the Rust code of a spec as tokens (quote).
//!
//! The output is a list of items meant to be the body of one module: the
//! protocol constants, `OpCode`, the enum and flag-set types, one struct per
//! opcode implementing `PacketCodec`, `Message`, `Handler` and `dispatch`
//! (the last four only if the spec has opcodes), and the `rpc` module of a
//! spec with `methods:` ([`crate::emit_rpc`]).
//! Every path outside the module is fully qualified through
//! [`EmitOptions::runtime_path`], so the code compiles wherever it lands.
//!
//! The `PacketCodec` impls and the handler trait with its dispatch are
//! emitted from small models, [`codec::CodecItem`] and
//! [`dispatch::DispatchItem`], that hqq-derive builds too: `#[derive(Packet)]`
//! and `#[derive(Dispatch)]` expand through the same functions.
//! The emitted code calls the runtime's `encoding` helpers and `flag_set!`
//! macro rather than writing the checks out per packet.

pub mod codec;
pub mod dispatch;
mod packet;
mod types;

pub(crate) use types::{flag_set_source, is_reexported};

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;

use crate::model::Spec;

/// How generated code reaches the runtime, and what shape it takes.
#[derive(Clone)]
#[non_exhaustive]
pub struct EmitOptions {
    /// Path of the `hqq_runtime` crate as seen from the generated code:
    /// `::hqq::runtime` (the default, for applications depending on the
    /// `hqq` facade), `::ipc::runtime` for a facade renamed to `ipc`, or
    /// `crate` (for hqq-runtime itself).
    pub runtime_path: syn::Path,
    /// Whether every `Handler` method is required (no default that refuses
    /// the packet), so that a new opcode in the spec is a compile error in
    /// every handler until it handles it. Default: no.
    pub exhaustive_handler: bool,
}

impl EmitOptions {
    /// Options with `runtime_path` parsed from a string such as `"crate"` or
    /// `"::hqq::runtime"`.
    pub fn new(runtime_path: &str) -> Result<Self, syn::Error> {
        Ok(EmitOptions {
            runtime_path: syn::parse_str(runtime_path)?,
            exhaustive_handler: false,
        })
    }

    /// Sets [`EmitOptions::exhaustive_handler`].
    #[must_use]
    pub fn exhaustive_handler(mut self, exhaustive: bool) -> Self {
        self.exhaustive_handler = exhaustive;
        self
    }
}

impl std::fmt::Debug for EmitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = &self.runtime_path;
        f.debug_struct("EmitOptions")
            .field("runtime_path", &quote!(#path).to_string())
            .field("exhaustive_handler", &self.exhaustive_handler)
            .finish()
    }
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            runtime_path: syn::parse_quote!(::hqq::runtime),
            exhaustive_handler: false,
        }
    }
}

/// The generated items of `spec`, unformatted.
pub fn emit_rust(spec: &Spec, options: &EmitOptions) -> TokenStream {
    let rt = &options.runtime_path;
    let constants = types::constants(spec, rt);
    let enums = spec.enums.iter().map(|t| types::enum_type(t, rt));
    let flags = spec.flags.iter().map(|t| types::flag_set(t, rt));
    let rpc = crate::emit_rpc::emit_rpc(spec, rt);
    if spec.opcodes.is_empty() {
        // A spec of RPC methods (or types) only: no packets to dispatch.
        return quote! {
            #constants
            #(#enums)*
            #(#flags)*
            #rpc
        };
    }
    let opcode_enum = types::opcode_enum(spec, rt);
    let packets = spec.opcodes.iter().map(|op| packet::packet(spec, op, rt));
    let message = packet::message_enum(spec);
    let dispatch = packet::dispatch_item(spec, options).emit();
    quote! {
        #constants
        #opcode_enum
        #(#enums)*
        #(#flags)*
        #(#packets)*
        #message
        #dispatch
        #rpc
    }
}

/// The lints generated items are exempt from in the crate that includes
/// them (`include!` of a build script's output takes no inner attributes,
/// so each item carries them): the code follows the spec's names, docs and
/// numbers, not that crate's style. The default `clippy::all` lints stay on.
pub(crate) fn lint_allows() -> TokenStream {
    quote!(#[allow(clippy::pedantic, clippy::nursery)])
}

/// `#[doc = "..."]` lines for `text` (one per line, as `///` would give).
pub(crate) fn doc(text: &str) -> TokenStream {
    let lines = text.lines().map(|l| {
        let l = if l.is_empty() {
            String::new()
        } else {
            format!(" {l}")
        };
        quote!(#[doc = #l])
    });
    quote!(#(#lines)*)
}

pub(crate) fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

pub(crate) fn hex_u8(v: u8) -> Literal {
    hex_u64(u64::from(v))
}

pub(crate) fn hex_u64(v: u64) -> Literal {
    format!("{v:#04x}")
        .parse()
        .expect("a hex integer literal is a valid token")
}
