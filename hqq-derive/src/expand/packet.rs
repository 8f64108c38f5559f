//! `#[derive(Packet)]`: `PacketCodec` for a struct of operands.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

use super::rt;
use crate::ast::PacketStruct;
use crate::check::{self, PacketLayout};
use crate::ctxt::Ctxt;

/// The expansion of `#[derive(Packet)]` on `input`.
pub fn expand(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::new();
    let checked = PacketStruct::from_ast(&mut cx, input)
        .and_then(|p| check::packet(&mut cx, &p).map(|layout| (p, layout)));
    match (cx.finish(), checked) {
        (Ok(()), Some((p, layout))) => codec(&p, &layout),
        (Err(errors), _) => {
            let fallback = fallback(input);
            quote!(#errors #fallback)
        }
        (Ok(()), None) => unreachable!("a model is missing only after an error"),
    }
}

fn codec(p: &PacketStruct, layout: &PacketLayout) -> TokenStream {
    let rt = rt();
    let ident = &p.input.ident;
    let opcode = Literal::u8_suffixed(layout.opcode);
    let name = &layout.name;
    let field_at = |i: u8| {
        layout
            .indices
            .iter()
            .position(|&x| x == i)
            .map(|f| &p.fields[f])
    };

    let words = (0..7u8).map(|i| match field_at(i) {
        Some(f) => {
            let member = &f.member;
            let ty = f.ty;
            let value_trait = quote_spanned!(ty.span()=> <#ty as #rt::codec::OperandValue>);
            quote!(#value_trait::to_word(&self.#member))
        }
        None => quote!(0u64),
    });
    let word_vars: Vec<_> = (1..=7u8).map(|i| format_ident!("word{}", i)).collect();
    let unused = (0..7u8).filter(|&i| field_at(i).is_none()).map(|i| {
        let w = &word_vars[usize::from(i)];
        quote! {
            if #w != 0 {
                return ::core::result::Result::Err(#rt::codec::DecodeError::UnusedOperand {
                    opcode,
                    index: #i,
                    value: #w,
                });
            }
        }
    });
    // Fields are decoded in operand order, so the first bad operand is reported.
    let mut by_index: Vec<(u8, usize)> = layout
        .indices
        .iter()
        .enumerate()
        .map(|(f, &i)| (i, f))
        .collect();
    by_index.sort_unstable();
    let decoded = by_index.iter().map(|&(i, f)| {
        let field = &p.fields[f];
        let ty = field.ty;
        let var = format_ident!("field{}", f);
        let w = &word_vars[usize::from(i)];
        let operand_name = &field.name;
        let value_trait = quote_spanned!(ty.span()=> <#ty as #rt::codec::OperandValue>);
        quote! {
            let #var = #value_trait::from_word(
                #w,
                #rt::codec::OperandRef::of::<Self>(#i, #operand_name),
            )?;
        }
    });
    let inits = p.fields.iter().enumerate().map(|(f, field)| {
        let member = &field.member;
        let var = format_ident!("field{}", f);
        quote!(#member: #var)
    });

    quote! {
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #rt::codec::PacketCodec for #ident {
                const OPCODE: u8 = #opcode;
                const NAME: &'static str = #name;

                #[inline]
                fn encode(&self) -> #rt::Packet {
                    #rt::Packet::from_words([
                        <Self as #rt::codec::PacketCodec>::OPCODE as u64,
                        #(#words),*
                    ])
                }

                #[inline]
                fn decode(
                    packet: &#rt::Packet,
                ) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    let opcode = <Self as #rt::codec::PacketCodec>::OPCODE;
                    let [word0, #(#word_vars),*] = packet.words();
                    if word0 as u8 != opcode {
                        return ::core::result::Result::Err(#rt::codec::DecodeError::WrongOpcode {
                            expected: opcode,
                            found: word0 as u8,
                        });
                    }
                    if word0 >> 8 != 0 {
                        return ::core::result::Result::Err(#rt::codec::DecodeError::ReservedBits {
                            opcode,
                            reserved: word0 >> 8,
                        });
                    }
                    #(#unused)*
                    #(#decoded)*
                    ::core::result::Result::Ok(Self { #(#inits),* })
                }

                #[inline]
                fn validate(
                    &self,
                    _limits: &#rt::codec::Limits,
                ) -> ::core::result::Result<(), #rt::codec::Violation> {
                    ::core::result::Result::Ok(())
                }
            }
        };
    }
}

/// An impl that compiles whatever the input, so that only the real errors show.
fn fallback(input: &DeriveInput) -> TokenStream {
    let rt = rt();
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
