//! The spec's opcodes: one struct per opcode with its `PacketCodec` impl
//! ([`super::codec`]), the rules as checks, and `Message`, `Handler` and
//! `dispatch` ([`super::dispatch`]).

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};

use super::codec::{CodecItem, CodecOperand, CodecRule, OperandDecode};
use super::dispatch::{DispatchItem, DispatchVariant, HandlerTrait};
use super::{doc, ident, lint_allows, EmitOptions};
use crate::model::{Condition, Direction, Opcode, Operand, OperandType, Spec, UnknownBits};
use crate::names;

/// The struct of `op`, its `PacketCodec` impl.
pub(super) fn packet(spec: &Spec, op: &Opcode, rt: &syn::Path) -> TokenStream {
    let ty = ident(&op.name);
    let d = doc(&format!(
        "{}\n\nOpcode `{:#04x}`, sent by {}.",
        op.doc,
        op.code,
        match op.direction {
            Direction::Both => "either side".to_owned(),
            other => format!("`{}`", other.as_str()),
        }
    ));
    let fields = op.operands.iter().map(|o| {
        let (d, f, t) = (doc(&field_doc(o)), ident(&o.name), field_type(spec, o, rt));
        quote!(#d pub #f: #t)
    });
    let codec = codec_item(spec, op, rt).emit(rt);
    let allow = lint_allows();
    quote! {
        #d
        #allow
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct #ty {
            #(#fields,)*
        }

        #codec
    }
}

fn field_doc(o: &Operand) -> String {
    let mut text = format!("{}\n\nOperand {} (word {}).", o.doc, o.index, o.index + 1);
    for r in &o.rules {
        let stage = if r.needs_limits() {
            "validate"
        } else {
            "decode"
        };
        text.push_str(&format!("\n\nRule ({stage}): `{}`.", r.full_text()));
        if !r.doc.is_empty() {
            text.push_str(&format!(" {}", r.doc));
        }
    }
    text
}

fn field_type(spec: &Spec, o: &Operand, rt: &syn::Path) -> TokenStream {
    match o.ty {
        OperandType::U64 => quote!(u64),
        OperandType::Scalar(s) => {
            let t = ident(s.name());
            quote!(::core::primitive::#t)
        }
        OperandType::Version => quote!(#rt::codec::Version),
        OperandType::Enum(i) => ident(&spec.enums[i].name).into_token_stream(),
        OperandType::Flags { set, .. } => ident(&spec.flags[set].name).into_token_stream(),
    }
}

/// `op` as the model [`CodecItem::emit`] reads.
fn codec_item(spec: &Spec, op: &Opcode, rt: &syn::Path) -> CodecItem {
    let operands = op
        .operands
        .iter()
        .map(|o| CodecOperand {
            member: syn::Member::Named(ident(&o.name)),
            index: o.index as u8,
            name: o.name.clone(),
            ty: field_type(spec, o, rt),
            span: Span::call_site(),
            decode: match o.ty {
                OperandType::Flags {
                    unknown_bits: UnknownBits::Drop,
                    ..
                } => OperandDecode::DropUnknownBits,
                _ => OperandDecode::Value,
            },
        })
        .collect();
    let rules = op
        .operands
        .iter()
        .flat_map(|o| o.rules.iter().map(move |r| (o, r)))
        .map(|(o, r)| CodecRule {
            operand: o.index as u8,
            rule: r.clone(),
            flag: r.when.as_ref().and_then(|c| condition_flag(spec, op, c)),
            span: Span::call_site(),
        })
        .collect();
    CodecItem {
        ty: ident(&op.name),
        opcode: op.code,
        name: op.name.clone(),
        operands,
        rules,
    }
}

/// The flag constant a rule's condition tests: `<FlagSet>::<FLAG>`.
fn condition_flag(spec: &Spec, op: &Opcode, c: &Condition) -> Option<TokenStream> {
    let set = op.operands.iter().find_map(|x| match x.ty {
        OperandType::Flags { set, .. } if x.name == c.operand => Some(set),
        _ => None,
    })?;
    let ty = ident(&spec.flags.get(set)?.name);
    let flag = ident(&names::shouty(&c.flag));
    Some(quote!(#ty::#flag))
}

/// `Message` and its `Handler` and `dispatch`, as the model
/// [`DispatchItem::emit`] reads.
pub(super) fn dispatch_item(spec: &Spec, options: &EmitOptions) -> DispatchItem {
    let rt = &options.runtime_path;
    let default = if options.exhaustive_handler {
        ""
    } else {
        "\n\nThe default refuses it with `InvalidOp`."
    };
    let variants = spec
        .opcodes
        .iter()
        .map(|op| DispatchVariant {
            variant: ident(&op.name),
            packet: ident(&op.name).into_token_stream(),
            span: Span::call_site(),
            method: ident(&names::handler_method(&op.name)),
            doc: format!(
                "Handles a [`{}`] packet and a view of its slot's payload buffer.{default}",
                op.name
            ),
        })
        .collect();
    let handler_doc = if options.exhaustive_handler {
        "Receives decoded packets from [`dispatch`], one method per opcode.\n\n\
         Every method is required, so an opcode added to the spec does not compile\n\
         until each handler handles it."
    } else {
        "Receives decoded packets from [`dispatch`], one method per opcode.\n\n\
         Implement the methods for the packets you handle; the others\n\
         refuse their packet with `InvalidOp`."
    };
    let mut item = DispatchItem {
        message: ident("Message"),
        vis: quote!(pub),
        runtime: rt.clone(),
        variants,
        handler: HandlerTrait {
            name: ident("Handler"),
            doc: format!(
                "{handler_doc} `payload` is a view of the\n\
                 packet's slot buffer, in shared memory when it comes from a\n\
                 link's zero-copy receive: a peer that breaks the protocol can\n\
                 change the bytes while you read, so copy out what you need\n\
                 once (`PayloadView::copy_to_slice`, `to_vec`, `read_u64_le`)."
            ),
            exhaustive: options.exhaustive_handler,
        },
        core: None,
        free_dispatch: true,
        extra_methods: TokenStream::new(),
        unreachable_bodies: false,
    };
    item.extra_methods = message_extras(&item);
    item
}

/// `Message::opcode`, and the `Message` enum itself.
fn message_extras(item: &DispatchItem) -> TokenStream {
    let arms = item.variants.iter().map(|v| {
        let name = &v.variant;
        quote!(Message::#name(_) => OpCode::#name)
    });
    quote! {
        /// The packet's opcode.
        pub const fn opcode(&self) -> OpCode {
            match self { #(#arms,)* }
        }
    }
}

/// `enum Message`: any packet of the spec, decoded.
pub(super) fn message_enum(spec: &Spec) -> TokenStream {
    let variants = spec.opcodes.iter().map(|op| {
        let v = ident(&op.name);
        let d = doc(&format!("A [`{}`] packet.", op.name));
        quote!(#d #v(#v))
    });
    let allow = lint_allows();
    quote! {
        /// Any packet of this protocol, decoded.
        #allow
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Message {
            #(#variants,)*
        }
    }
}
