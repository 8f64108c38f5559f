//! A message enum's codec methods, its handler trait and its dispatch, from
//! a model that both the spec emitter (`Message`, `Handler`, `dispatch`)
//! and `#[derive(Dispatch)]` (the user's enum, `<Enum>Handler`,
//! `Enum::dispatch`) build.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

use super::{doc, lint_allows};

/// An enum with one variant per packet type, and how packets reach a handler.
#[derive(Clone)]
pub struct DispatchItem {
    /// The enum.
    pub message: syn::Ident,
    /// The visibility of the generated trait and methods.
    pub vis: TokenStream,
    /// The runtime's path.
    pub runtime: syn::Path,
    /// One per variant, in declaration order.
    pub variants: Vec<DispatchVariant>,
    /// The handler trait.
    pub handler: HandlerTrait,
    /// Where packets of opcodes outside the enum go, if anywhere; without
    /// it they give `DecodeError::UnknownOpcode`.
    pub core: Option<CoreFallback>,
    /// Whether `dispatch` is a free function (else an associated one).
    pub free_dispatch: bool,
    /// Items added to the enum's inherent impl.
    pub extra_methods: TokenStream,
    /// Whether every generated body is `unreachable!()`: the stand-in a
    /// derive emits next to its errors, so that only the real errors show.
    pub unreachable_bodies: bool,
}

/// One variant: `Name(PacketType)`.
#[derive(Clone)]
pub struct DispatchVariant {
    /// The variant's name.
    pub variant: syn::Ident,
    /// The wrapped packet type.
    pub packet: TokenStream,
    /// Where errors about the packet type point.
    pub span: Span,
    /// Its handler method, `on_<snake case>`.
    pub method: syn::Ident,
    /// The handler method's documentation.
    pub doc: String,
}

/// The handler trait.
#[derive(Clone)]
pub struct HandlerTrait {
    /// Its name.
    pub name: syn::Ident,
    /// Its documentation.
    pub doc: String,
    /// Whether the per-variant methods are required (else they default to
    /// refusing the packet with `InvalidOp`).
    pub exhaustive: bool,
}

/// The handler method that receives the core protocol's packets.
#[derive(Clone)]
pub struct CoreFallback {
    /// The core protocol's `Message` type.
    pub message: TokenStream,
    /// The method's name.
    pub method: syn::Ident,
}

impl DispatchItem {
    /// The handler trait, the enum's inherent impl, `From` conversions and
    /// (if free) `dispatch`.
    pub fn emit(&self) -> TokenStream {
        let handler = self.handler_trait();
        let inherent = self.inherent();
        let conversions = self.conversions();
        let free = self.free_dispatch.then(|| self.dispatch_fn());
        quote!(#handler #inherent #conversions #free)
    }

    /// The type of a handler method's `payload` argument.
    fn payload(&self) -> TokenStream {
        let rt = &self.runtime;
        quote!(#rt::PayloadView<'_>)
    }

    fn body(&self, real: TokenStream) -> TokenStream {
        if self.unreachable_bodies {
            quote!(::core::unreachable!("the derive failed; see its errors"))
        } else {
            real
        }
    }

    /// The handler trait: one method per variant, plus the core fallback.
    pub fn handler_trait(&self) -> TokenStream {
        let rt = &self.runtime;
        let payload = self.payload();
        let methods = self.variants.iter().map(|v| {
            let (d, m, ty) = (doc(&v.doc), &v.method, &v.packet);
            let signature = quote! {
                fn #m(&mut self, packet: #ty, payload: #payload) -> ::core::result::Result<(), #rt::codec::Rejection>
            };
            if self.handler.exhaustive {
                quote!(#d #signature;)
            } else {
                quote! {
                    #d
                    #signature {
                        let _ = (packet, payload);
                        ::core::result::Result::Err(#rt::codec::Rejection::unhandled(
                            <#ty as #rt::codec::PacketCodec>::OPCODE,
                        ))
                    }
                }
            }
        });
        let core = self.core.as_ref().map(|c| {
            let (m, message) = (&c.method, &c.message);
            quote! {
                /// Handles a packet of the core protocol (any opcode outside this
                /// enum), decoded and validated. The default refuses it with
                /// `InvalidOp`; forward it to the core protocol's `Handler` with
                /// its `dispatch` to serve both from one loop.
                fn #m(&mut self, message: #message, payload: #payload) -> ::core::result::Result<(), #rt::codec::Rejection> {
                    let _ = payload;
                    ::core::result::Result::Err(#rt::codec::Rejection::unhandled(message.opcode().code()))
                }
            }
        });
        let (vis, name, d) = (&self.vis, &self.handler.name, doc(&self.handler.doc));
        let allow = lint_allows();
        quote! {
            #d
            #allow
            #vis trait #name {
                #(#methods)*
                #core
            }
        }
    }

    /// `<T as PacketCodec>` for a variant, pointing at the wrapped type.
    fn codec(&self, v: &DispatchVariant) -> TokenStream {
        let (rt, ty) = (&self.runtime, &v.packet);
        quote_spanned!(v.span=> <#ty as #rt::codec::PacketCodec>)
    }

    /// `match self { Enum::V(packet) => <f>, ... }`, where `f` gets the
    /// variant's `<T as PacketCodec>`; for methods in
    /// [`DispatchItem::extra_methods`].
    pub fn per_variant(&self, f: impl Fn(TokenStream) -> TokenStream) -> TokenStream {
        let message = &self.message;
        let arms = self.variants.iter().map(|v| {
            let (name, call) = (&v.variant, f(self.codec(v)));
            quote!(#message::#name(packet) => #call)
        });
        self.body(quote!(match self { #(#arms,)* }))
    }

    fn inherent(&self) -> TokenStream {
        let (rt, vis, message) = (&self.runtime, &self.vis, &self.message);
        // An `if` per variant rather than a `match` on associated consts:
        // a wrapped type that is not a packet is then reported once, at the
        // variant, and the optimizer makes the same jump table of both.
        let decode_arms = self.variants.iter().map(|v| {
            let (c, name) = (self.codec(v), &v.variant);
            quote! {
                if opcode == #c::OPCODE {
                    return #c::decode(packet).map(#message::#name);
                }
            }
        });
        let decode = self.body(quote! {
            let opcode = packet.opcode();
            #(#decode_arms)*
            ::core::result::Result::Err(#rt::codec::DecodeError::UnknownOpcode(opcode))
        });
        let unused_packet = self.unreachable_bodies.then(|| quote!(let _ = packet;));
        let unused_limits = self.unreachable_bodies.then(|| quote!(let _ = limits;));
        let encode = self.per_variant(|c| quote!(#c::encode(packet)));
        let validate = self.per_variant(|c| quote!(#c::validate(packet, limits)));
        let dispatch = (!self.free_dispatch).then(|| self.dispatch_fn());
        let extra = &self.extra_methods;
        let allow = lint_allows();
        quote! {
            #allow
            impl #message {
                /// Decodes a packet of any variant's opcode. Other opcodes give
                /// `DecodeError::UnknownOpcode`.
                #[inline]
                #vis fn decode(packet: &#rt::Packet) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    #unused_packet
                    #decode
                }

                /// Encodes the packet.
                #[inline]
                #vis fn encode(&self) -> #rt::Packet {
                    #encode
                }

                /// Checks the rules that depend on the link.
                #[inline]
                #vis fn validate(&self, limits: &#rt::codec::Limits) -> ::core::result::Result<(), #rt::codec::Violation> {
                    #unused_limits
                    #validate
                }

                #extra
                #dispatch
            }
        }
    }

    /// `dispatch`: decode, validate, call the handler method.
    fn dispatch_fn(&self) -> TokenStream {
        let (rt, vis, handler) = (&self.runtime, &self.vis, &self.handler.name);
        let payload = self.payload();
        let unused = self
            .unreachable_bodies
            .then(|| quote!(let _ = (handler, packet, payload, limits);));
        let body = self.body(self.dispatch_body());
        let doc = doc(&format!(
            "Decodes `packet`, validates it against `limits` and calls the\n\
             [`{handler}`] method of its opcode with `payload`{}.\n\n\
             The error says whether the packet was invalid or refused;\n\
             `DispatchError::error_code` gives the code to answer with.",
            match &self.core {
                Some(c) => format!("; a packet of the core protocol goes to `{}`", c.method),
                None => String::new(),
            }
        ));
        let allow = lint_allows();
        quote! {
            #doc
            #allow
            #vis fn dispatch<H: #handler + ?::core::marker::Sized>(
                handler: &mut H,
                packet: &#rt::Packet,
                payload: #payload,
                limits: &#rt::codec::Limits,
            ) -> ::core::result::Result<(), #rt::codec::DispatchError> {
                #unused
                #body
            }
        }
    }

    fn dispatch_body(&self) -> TokenStream {
        let (rt, message) = (&self.runtime, &self.message);
        let arms = self.variants.iter().map(|v| {
            let (name, m) = (&v.variant, &v.method);
            quote!(#message::#name(p) => handler.#m(p, payload))
        });
        let call = quote! {
            message.validate(limits).map_err(#rt::codec::DispatchError::Invalid)?;
            match message { #(#arms,)* }
        };
        let Some(core) = &self.core else {
            return quote! {
                let message = #message::decode(packet).map_err(#rt::codec::DispatchError::Decode)?;
                #call.map_err(#rt::codec::DispatchError::Rejected)
            };
        };
        let (core_message, core_method) = (&core.message, &core.method);
        quote! {
            let result = match #message::decode(packet) {
                ::core::result::Result::Ok(message) => { #call }
                ::core::result::Result::Err(#rt::codec::DecodeError::UnknownOpcode(_)) => {
                    let message = #core_message::decode(packet).map_err(#rt::codec::DispatchError::Decode)?;
                    message.validate(limits).map_err(#rt::codec::DispatchError::Invalid)?;
                    handler.#core_method(message, payload)
                }
                ::core::result::Result::Err(e) => {
                    return ::core::result::Result::Err(#rt::codec::DispatchError::Decode(e));
                }
            };
            result.map_err(#rt::codec::DispatchError::Rejected)
        }
    }

    /// `From<Packet> for Enum`, for variants whose type no other variant wraps.
    fn conversions(&self) -> TokenStream {
        if self.unreachable_bodies {
            return TokenStream::new();
        }
        let message = &self.message;
        let allow = lint_allows();
        let impls = self.variants.iter().filter_map(|v| {
            let shown = v.packet.to_string();
            let once = self
                .variants
                .iter()
                .filter(|o| o.packet.to_string() == shown)
                .count()
                == 1;
            let (name, ty) = (&v.variant, &v.packet);
            once.then(|| {
                quote! {
                    #allow
                    #[automatically_derived]
                    impl ::core::convert::From<#ty> for #message {
                        #[inline]
                        fn from(packet: #ty) -> Self {
                            #message::#name(packet)
                        }
                    }
                }
            })
        });
        quote!(#(#impls)*)
    }
}
