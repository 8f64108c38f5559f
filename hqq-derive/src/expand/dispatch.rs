//! `#[derive(Dispatch)]`: decoding into the enum, its handler trait, and a
//! `dispatch` that also hands the core protocol's packets to the handler.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::DeriveInput;

use super::rt;
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
            let handler = handler_trait(&d);
            let inherent = inherent_impl(&d, false);
            let conversions = conversions(&d);
            let checks = opcode_checks(&d);
            quote!(#handler #inherent #conversions #checks)
        }
        (Err(errors), Some(d)) if d.input.generics.params.is_empty() => {
            // The trait and methods (with the variants that parsed), so that
            // handler impls do not add errors of their own.
            let handler = handler_trait(&d);
            let inherent = inherent_impl(&d, true);
            quote!(#errors #handler #inherent)
        }
        (Err(errors), _) => errors,
        (Ok(()), None) => unreachable!("a model is missing only after an error"),
    }
}

fn handler_name(d: &DispatchEnum) -> Ident {
    d.attrs
        .handler
        .clone()
        .unwrap_or_else(|| format_ident!("{}Handler", d.input.ident))
}

fn method(v: &Variant) -> Ident {
    Ident::new(&handler_method(v.ident), v.ident.span())
}

fn handler_trait(d: &DispatchEnum) -> TokenStream {
    let rt = rt();
    let vis = &d.input.vis;
    let ident = &d.input.ident;
    let handler = handler_name(d);
    let core_method = Ident::new(CORE_METHOD, Span::call_site());
    let methods = d.variants.iter().map(|v| {
        let m = method(v);
        let ty = v.ty;
        let doc = format!(
            "Handles a [`{}`] packet (variant `{ident}::{}`) and a view of its slot's payload buffer.",
            ty.to_token_stream(),
            v.ident
        );
        quote! {
            #[doc = #doc]
            fn #m(&mut self, packet: #ty, payload: #rt::PayloadView<'_>) -> ::core::result::Result<(), #rt::codec::Rejection>;
        }
    });
    let doc = format!(
        "Receives the packets of [`{ident}`] from [`{ident}::dispatch`]: one method per variant, \
         plus `{CORE_METHOD}` for the core protocol's packets.\n\n\
         `payload` is a view of the packet's slot buffer, which a peer that breaks the \
         protocol can change while you read: copy out what you need once. A method's `Err` \
         refuses the packet; the link answers it with an Error packet."
    );
    quote! {
        #[doc = #doc]
        #vis trait #handler {
            #(#methods)*

            /// Handles a packet of the core protocol (any opcode outside this
            /// enum), decoded and validated. The default refuses it with
            /// `InvalidOp`; forward it to a `hqq::protocol::Handler` with
            /// `hqq::protocol::dispatch` to serve both from one loop.
            fn #core_method(
                &mut self,
                message: ::hqq::protocol::Message,
                payload: #rt::PayloadView<'_>,
            ) -> ::core::result::Result<(), #rt::codec::Rejection> {
                let _ = payload;
                ::core::result::Result::Err(#rt::codec::Rejection::unhandled(message.opcode().code()))
            }
        }
    }
}

fn inherent_impl(d: &DispatchEnum, fallback: bool) -> TokenStream {
    let rt = rt();
    let vis = &d.input.vis;
    let ident = &d.input.ident;
    let handler = handler_name(d);
    let codec = |v: &Variant| {
        let ty = v.ty;
        quote_spanned!(ty.span()=> <#ty as #rt::codec::PacketCodec>)
    };
    let body = |code: TokenStream| {
        if fallback {
            quote!(::core::unreachable!("#[derive(Dispatch)] failed"))
        } else {
            code
        }
    };
    let decode = body({
        let arms = d.variants.iter().map(|v| {
            let c = codec(v);
            let name = v.ident;
            quote! {
                if opcode == #c::OPCODE {
                    return ::core::result::Result::map(#c::decode(packet), #ident::#name);
                }
            }
        });
        quote! {
            let opcode = packet.opcode();
            #(#arms)*
            ::core::result::Result::Err(#rt::codec::DecodeError::UnknownOpcode(opcode))
        }
    });
    let per_variant = |f: &dyn Fn(&Variant, TokenStream) -> TokenStream| {
        let arms = d.variants.iter().map(|v| {
            let name = v.ident;
            let call = f(v, codec(v));
            quote!(#ident::#name(packet) => #call)
        });
        body(quote!(match self { #(#arms,)* }))
    };
    let encode = per_variant(&|_, c| quote!(#c::encode(packet)));
    let validate = per_variant(&|_, c| quote!(#c::validate(packet, limits)));
    let opcode = per_variant(&|_, c| quote!(#c::OPCODE));
    let name = per_variant(&|_, c| quote!(#c::NAME));
    let handle = body({
        let arms = d.variants.iter().map(|v| {
            let name = v.ident;
            let m = method(v);
            quote!(#ident::#name(packet) => handler.#m(packet, payload))
        });
        let core_method = Ident::new(CORE_METHOD, Span::call_site());
        quote! {
            let result = match #ident::decode(packet) {
                ::core::result::Result::Ok(message) => {
                    message.validate(limits).map_err(#rt::codec::DispatchError::Invalid)?;
                    match message {
                        #(#arms,)*
                    }
                }
                ::core::result::Result::Err(#rt::codec::DecodeError::UnknownOpcode(_)) => {
                    let message = ::hqq::protocol::Message::decode(packet)
                        .map_err(#rt::codec::DispatchError::Decode)?;
                    message.validate(limits).map_err(#rt::codec::DispatchError::Invalid)?;
                    handler.#core_method(message, payload)
                }
                ::core::result::Result::Err(e) => {
                    return ::core::result::Result::Err(#rt::codec::DispatchError::Decode(e));
                }
            };
            result.map_err(#rt::codec::DispatchError::Rejected)
        }
    });
    let unused = fallback.then(|| quote!(let _ = (handler, packet, payload, limits);));
    let unused_packet = fallback.then(|| quote!(let _ = packet;));
    let unused_limits = fallback.then(|| quote!(let _ = limits;));
    quote! {
        #[automatically_derived]
        impl #ident {
            /// Decodes a packet of any variant's opcode. Other opcodes give
            /// `DecodeError::UnknownOpcode`.
            #vis fn decode(
                packet: &#rt::Packet,
            ) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                #unused_packet
                #decode
            }

            /// Encodes the packet.
            #vis fn encode(&self) -> #rt::Packet {
                #encode
            }

            /// Checks the rules that depend on the link.
            #vis fn validate(
                &self,
                limits: &#rt::codec::Limits,
            ) -> ::core::result::Result<(), #rt::codec::Violation> {
                #unused_limits
                #validate
            }

            /// The packet's opcode byte.
            #vis fn opcode(&self) -> u8 {
                #opcode
            }

            /// The packet's name.
            #vis fn name(&self) -> &'static str {
                #name
            }

            /// Decodes `packet`, validates it against `limits` and calls the
            /// handler method of its variant with `payload`; a packet of the
            /// core protocol goes to the handler's `on_core`.
            ///
            /// The error says whether the packet was invalid or refused;
            /// `DispatchError::error_code` gives the code to answer with.
            #vis fn dispatch<H: #handler + ?::core::marker::Sized>(
                handler: &mut H,
                packet: &#rt::Packet,
                payload: #rt::PayloadView<'_>,
                limits: &#rt::codec::Limits,
            ) -> ::core::result::Result<(), #rt::codec::DispatchError> {
                #unused
                #handle
            }
        }
    }
}

/// `From<Packet> for Enum`, for variants whose type no other variant wraps.
fn conversions(d: &DispatchEnum) -> TokenStream {
    let ident = &d.input.ident;
    let impls = d.variants.iter().filter_map(|v| {
        let shown = v.ty.to_token_stream().to_string();
        let wrapped_once = d
            .variants
            .iter()
            .filter(|o| o.ty.to_token_stream().to_string() == shown)
            .count()
            == 1;
        let (name, ty) = (v.ident, v.ty);
        wrapped_once.then(|| {
            quote! {
                #[automatically_derived]
                impl ::core::convert::From<#ty> for #ident {
                    #[inline]
                    fn from(packet: #ty) -> Self {
                        #ident::#name(packet)
                    }
                }
            }
        })
    });
    quote!(#(#impls)*)
}

/// Compile-time checks on the wrapped types' opcodes: each in the
/// application range, no two alike. A failure stops compilation with the
/// message of the `panic!`, pointing at the variant.
fn opcode_checks(d: &DispatchEnum) -> TokenStream {
    let rt = rt();
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
            const APPLICATION: ::core::ops::RangeInclusive<u8> = ::hqq::protocol::APPLICATION_OPCODES;
            #(#ranges)*
            #(#pairs)*
        };
    }
}
