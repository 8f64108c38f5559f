//! `#[derive(Dispatch)]`: decoding into the enum, its handler trait, and a
//! `dispatch` that also hands the core protocol's packets to the handler,
//! emitted by hqq-gen from the enum lowered into its [`DispatchItem`].

use hqq_gen::emit_rust::dispatch::{CoreFallback, DispatchItem, DispatchVariant, HandlerTrait};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::DeriveInput;

use super::{facade, runtime, type_text};
use crate::ast::{DispatchEnum, Variant};
use crate::check::{self, handler_method, CORE_METHOD};
use crate::ctxt::Ctxt;

/// The expansion of `#[derive(Dispatch)]` on `input`.
pub fn expand(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::new();
    let model = DispatchEnum::from_ast(&mut cx, input);
    if let Some(d) = &model {
        check::dispatch(&mut cx, d);
    }
    match (cx.finish(), model) {
        (Ok(()), Some(d)) => {
            let item = lower(&d, false).emit();
            let checks = opcode_checks(&d);
            quote!(#item #checks)
        }
        (Err(errors), Some(d)) if d.input.generics.params.is_empty() => {
            // The trait and methods (with the variants that parsed), so that
            // handler impls do not add errors of their own.
            let item = lower(&d, true).emit();
            quote!(#errors #item)
        }
        (Err(errors), _) => errors,
        (Ok(()), None) => unreachable!("a model is missing only after an error"),
    }
}

/// The enum as hqq-gen's model of a dispatch enum.
fn lower(d: &DispatchEnum, unreachable_bodies: bool) -> DispatchItem {
    let krate = d.attrs.krate.as_ref();
    let ident = &d.input.ident;
    let variants = d.variants.iter().map(|v| variant(ident, v)).collect();
    let core_message = {
        let facade = facade(krate);
        quote!(#facade::protocol::Message)
    };
    let mut item = DispatchItem {
        message: ident.clone(),
        vis: d.input.vis.to_token_stream(),
        runtime: runtime(krate),
        variants,
        handler: HandlerTrait {
            name: d
                .attrs
                .handler
                .clone()
                .unwrap_or_else(|| format_ident!("{}Handler", ident)),
            doc: format!(
                "Receives the packets of [`{ident}`] from [`{ident}::dispatch`]: one method per variant, \
                 plus `{CORE_METHOD}` for the core protocol's packets.\n\n\
                 `payload` is a view of the packet's slot buffer, which a peer that breaks the \
                 protocol can change while you read: copy out what you need once. A method's `Err` \
                 refuses the packet; the link answers it with an Error packet."
            ),
            exhaustive: true,
        },
        core: Some(CoreFallback {
            message: core_message,
            method: Ident::new(CORE_METHOD, Span::call_site()),
        }),
        free_dispatch: false,
        extra_methods: TokenStream::new(),
        unreachable_bodies,
    };
    let vis = &d.input.vis;
    let opcode = item.per_variant(|c| quote!(#c::OPCODE));
    let name = item.per_variant(|c| quote!(#c::NAME));
    item.extra_methods = quote! {
        /// The packet's opcode byte.
        #vis fn opcode(&self) -> u8 {
            #opcode
        }

        /// The packet's name.
        #vis fn name(&self) -> &'static str {
            #name
        }
    };
    item
}

fn variant(ident: &Ident, v: &Variant) -> DispatchVariant {
    DispatchVariant {
        variant: v.ident.clone(),
        packet: v.ty.to_token_stream(),
        span: v.ty.span(),
        method: Ident::new(&handler_method(v.ident), v.ident.span()),
        doc: format!(
            "Handles a [`{}`] packet (variant `{ident}::{}`) and a view of its slot's payload buffer.",
            type_text(v.ty),
            v.ident
        ),
    }
}

/// Compile-time checks on the wrapped types' opcodes: each in the
/// application range, no two alike. A failure stops compilation with the
/// message of the `panic!`, pointing at the variant.
fn opcode_checks(d: &DispatchEnum) -> TokenStream {
    let krate = d.attrs.krate.as_ref();
    let (rt, facade) = (runtime(krate), facade(krate));
    let ident = &d.input.ident;
    let codec = |v: &Variant| {
        let ty = v.ty;
        quote!(<#ty as #rt::codec::PacketCodec>)
    };
    let ranges = d.variants.iter().map(|v| {
        let c = codec(v);
        let message = format!(
            "variant `{ident}::{}` wraps a packet whose opcode is not in the application range \
             (hqq::protocol::APPLICATION_OPCODES); core packets reach the handler's `{CORE_METHOD}`, \
             remove the variant or give the packet an application opcode",
            v.ident
        );
        quote_spanned! {v.original.span()=>
            if #c::OPCODE < *APPLICATION.start() || #c::OPCODE > *APPLICATION.end() {
                ::core::panic!(#message);
            }
        }
    });
    let pairs = d.variants.iter().enumerate().flat_map(|(i, a)| {
        d.variants[i + 1..].iter().map(move |b| {
            let (ca, cb) = (codec(a), codec(b));
            let message = format!(
                "variants `{ident}::{}` and `{ident}::{}` wrap packets with the same opcode; \
                 each variant needs a packet type with its own opcode",
                a.ident, b.ident
            );
            quote_spanned! {b.original.span()=>
                if #ca::OPCODE == #cb::OPCODE {
                    ::core::panic!(#message);
                }
            }
        })
    });
    quote! {
        const _: () = {
            const APPLICATION: ::core::ops::RangeInclusive<u8> = #facade::protocol::APPLICATION_OPCODES;
            #(#ranges)*
            #(#pairs)*
        };
    }
}
