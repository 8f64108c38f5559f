//! `#[derive(Packet)]`: `PacketCodec` for a struct of operands, emitted by
//! hqq-gen from the struct lowered into its [`CodecItem`].

use hqq_gen::emit_rust::codec::{CodecItem, CodecOperand, CodecRule, OperandDecode};
use hqq_gen::model::Condition;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{DeriveInput, LitStr};

use super::runtime;
use crate::ast::PacketStruct;
use crate::attr::PacketAttrs;
use crate::check::{self, PacketLayout};
use crate::ctxt::Ctxt;

/// The expansion of `#[derive(Packet)]` on `input`.
pub fn expand(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::new();
    let checked = PacketStruct::from_ast(&mut cx, input)
        .and_then(|p| check::packet(&mut cx, &p).map(|layout| (p, layout)));
    match (cx.finish(), checked) {
        (Ok(()), Some((p, layout))) => {
            let rt = runtime(p.attrs.krate.as_ref());
            let codec = lower(&p, &layout).emit(&rt);
            quote! {
                #[doc(hidden)]
                const _: () = { #codec };
            }
        }
        (Err(errors), _) => {
            let fallback = fallback(input);
            quote!(#errors #fallback)
        }
        (Ok(()), None) => unreachable!("a model is missing only after an error"),
    }
}

/// The struct as hqq-gen's model of a packet codec.
fn lower(p: &PacketStruct, layout: &PacketLayout) -> CodecItem {
    let operands = p
        .fields
        .iter()
        .zip(&layout.indices)
        .map(|(f, &index)| CodecOperand {
            member: f.member.clone(),
            index,
            name: f.name.clone(),
            ty: f.ty.to_token_stream(),
            span: f.ty.span(),
            decode: OperandDecode::Value,
        })
        .collect();
    CodecItem {
        ty: p.input.ident.clone(),
        opcode: layout.opcode,
        name: layout.name.clone(),
        operands,
        rules: layout
            .rules
            .iter()
            .map(|r| CodecRule {
                operand: layout.indices[r.field],
                rule: r.rule.clone(),
                flag: r
                    .rule
                    .when
                    .as_ref()
                    .and_then(|c| condition_flag(p, c, &r.lit)),
                span: r.lit.span(),
            })
            .collect(),
    }
}

/// The flag constant a rule's condition tests, `<FieldType>::<FLAG>` (the
/// constant a generated flag set has), pointing at the rule.
fn condition_flag(p: &PacketStruct, c: &Condition, lit: &LitStr) -> Option<TokenStream> {
    let ty = p.fields.iter().find(|f| f.name == c.operand)?.ty;
    let flag = Ident::new(&hqq_gen::names::shouty(&c.flag), lit.span());
    Some(quote_spanned!(lit.span()=> <#ty>::#flag))
}

/// An impl that compiles whatever the input, so that only the real errors show.
fn fallback(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::new();
    let rt = runtime(
        PacketAttrs::from_attrs(&mut cx, &input.attrs)
            .krate
            .as_ref(),
    );
    let ident = &input.ident;
    let name = ident.to_string();
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #rt::codec::PacketCodec for #ident #ty_generics #where_clause {
                const OPCODE: u8 = 0;
                const NAME: &'static str = #name;

                fn encode(&self) -> #rt::Packet {
                    ::core::unreachable!("#[derive(Packet)] failed")
                }

                fn decode(
                    _packet: &#rt::Packet,
                ) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    ::core::unreachable!("#[derive(Packet)] failed")
                }

                fn validate(
                    &self,
                    _limits: &#rt::codec::Limits,
                ) -> ::core::result::Result<(), #rt::codec::Violation> {
                    ::core::unreachable!("#[derive(Packet)] failed")
                }
            }
        };
    }
}
