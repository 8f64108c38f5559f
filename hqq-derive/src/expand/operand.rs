//! `#[derive(OperandValue)]`: a newtype encodes as the type it wraps.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

use super::runtime;
use crate::ast::Newtype;
use crate::attr::NewtypeAttrs;
use crate::check;
use crate::ctxt::Ctxt;

/// The expansion of `#[derive(OperandValue)]` on `input`.
pub fn expand(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::new();
    let model = Newtype::from_ast(&mut cx, input);
    if let Some(n) = &model {
        check::newtype(&mut cx, n);
    }
    match (cx.finish(), model) {
        (Ok(()), Some(n)) => operand_value(&n),
        (Err(errors), _) => {
            let fallback = fallback(input);
            quote!(#errors #fallback)
        }
        (Ok(()), None) => unreachable!("a model is missing only after an error"),
    }
}

fn operand_value(n: &Newtype) -> TokenStream {
    let rt = runtime(n.attrs.krate.as_ref());
    let ident = &n.input.ident;
    let member = &n.member;
    let ty = n.ty;
    let inner = quote_spanned!(ty.span()=> <#ty as #rt::codec::OperandValue>);
    quote! {
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #rt::codec::OperandValue for #ident {
                #[inline]
                fn to_word(&self) -> u64 {
                    #inner::to_word(&self.#member)
                }

                #[inline]
                fn from_word(
                    word: u64,
                    operand: #rt::codec::OperandRef,
                ) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    ::core::result::Result::map(#inner::from_word(word, operand), |value| Self {
                        #member: value,
                    })
                }
            }
        };
    }
}

fn fallback(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::new();
    let rt = runtime(
        NewtypeAttrs::from_attrs(&mut cx, &input.attrs)
            .krate
            .as_ref(),
    );
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #rt::codec::OperandValue for #ident #ty_generics #where_clause {
                fn to_word(&self) -> u64 {
                    ::core::unreachable!("#[derive(OperandValue)] failed")
                }

                fn from_word(
                    _word: u64,
                    _operand: #rt::codec::OperandRef,
                ) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    ::core::unreachable!("#[derive(OperandValue)] failed")
                }
            }
        };
    }
}
