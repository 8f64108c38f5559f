//! The `PacketCodec` impl of one packet type, from a model that both the
//! spec emitter and `#[derive(Packet)]` build.
//!
//! Encode writes the opcode and each operand's [`OperandValue::to_word`];
//! decode is the runtime's `encoding::operand_words` (opcode, reserved
//! bytes, unused operands) followed by one `OperandValue::from_word` per
//! field in operand order, then the spec's decode rules; validate checks the
//! rules that need the link's limits.
//!
//! [`OperandValue::to_word`]: https://docs.rs/hqq-runtime/latest/hqq_runtime/codec/trait.OperandValue.html

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};

use super::{ident, lint_allows};
use crate::model::{CmpOp, Rule, Term};

/// One packet type's `PacketCodec` impl.
#[derive(Clone)]
pub struct CodecItem {
    /// The type the impl is for.
    pub ty: syn::Ident,
    /// The opcode byte.
    pub opcode: u8,
    /// `PacketCodec::NAME`.
    pub name: String,
    /// The fields, each on its own operand, in any order.
    pub operands: Vec<CodecOperand>,
    /// The rules on the operands: decode checks those that need no limits
    /// (in this order, after every operand decoded), validate the others.
    pub rules: Vec<CodecRule>,
}

/// A rule on one operand, as [`crate::rule::parse`] gives it.
#[derive(Clone)]
pub struct CodecRule {
    /// Operand index of the field the rule is on (its errors name it).
    pub operand: u8,
    /// The rule; its terms name fields of [`CodecItem::operands`].
    pub rule: Rule,
    /// The flag constant the rule's `when` condition tests (a value of the
    /// condition's field type, e.g. `PutFlags::CREATE`).
    pub flag: Option<TokenStream>,
    /// Where errors in the emitted check point.
    pub span: Span,
}

/// One field of a packet: one operand word.
#[derive(Clone)]
pub struct CodecOperand {
    /// `self.<member>`.
    pub member: syn::Member,
    /// Operand index, 0..=6 (word `index + 1`).
    pub index: u8,
    /// The operand's name in errors.
    pub name: String,
    /// The field's type (an `OperandValue`).
    pub ty: TokenStream,
    /// Where errors about the type point (the field type as written).
    pub span: Span,
    /// How decode reads the word.
    pub decode: OperandDecode,
}

/// How decode reads an operand word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperandDecode {
    /// `OperandValue::from_word`: strict.
    Value,
    /// A flag set whose undefined bits are cleared (`unknown_bits: drop`).
    DropUnknownBits,
}

impl CodecItem {
    /// `impl PacketCodec for <ty>`; `rt` is the runtime's path.
    pub fn emit(&self, rt: &syn::Path) -> TokenStream {
        let ty = &self.ty;
        let code = super::hex_u8(self.opcode);
        let name = &self.name;
        let encode = self.encode(rt);
        let decode = self.decode(rt);
        let validate_rules = self.rule_checks(rt, true);
        let limits = if validate_rules.is_empty() {
            quote!(_limits)
        } else {
            quote!(limits)
        };
        let allow = lint_allows();
        quote! {
            #allow
            #[automatically_derived]
            impl #rt::codec::PacketCodec for #ty {
                const OPCODE: u8 = #code;
                const NAME: &'static str = #name;

                #[inline]
                fn encode(&self) -> #rt::Packet {
                    #encode
                }

                #[inline]
                fn decode(packet: &#rt::Packet) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    #decode
                }

                #[inline]
                fn validate(&self, #limits: &#rt::codec::Limits) -> ::core::result::Result<(), #rt::codec::Violation> {
                    #(#validate_rules)*
                    ::core::result::Result::Ok(())
                }
            }
        }
    }

    fn by_index(&self) -> Vec<&CodecOperand> {
        let mut operands: Vec<&CodecOperand> = self.operands.iter().collect();
        operands.sort_by_key(|o| o.index);
        operands
    }

    fn encode(&self, rt: &syn::Path) -> TokenStream {
        let words = (0..7u8).map(|i| match self.operands.iter().find(|o| o.index == i) {
            Some(o) => {
                let (member, ty) = (&o.member, &o.ty);
                quote_spanned!(o.span=> <#ty as #rt::codec::OperandValue>::to_word(&self.#member))
            }
            None => quote!(0),
        });
        quote! {
            #rt::Packet::from_words([u64::from(<Self as #rt::codec::PacketCodec>::OPCODE), #(#words),*])
        }
    }

    fn decode(&self, rt: &syn::Path) -> TokenStream {
        let used = self.operands.iter().fold(0u8, |m, o| m | (1 << o.index));
        let used = Literal::u8_unsuffixed(used);
        let words = if self.operands.is_empty() {
            quote!(_words)
        } else {
            quote!(words)
        };
        let fields = self.by_index().into_iter().map(|o| {
            let (member, ty, name) = (&o.member, &o.ty, &o.name);
            let index = Literal::u8_unsuffixed(o.index);
            let operand = quote!(#rt::codec::OperandRef::of::<Self>(#index, #name));
            let value = match o.decode {
                // The same `<T as OperandValue>` path as in encode, so that a
                // field type that is no operand is reported once.
                OperandDecode::Value => quote_spanned! {o.span=>
                    <#ty as #rt::codec::OperandValue>::from_word(words[#index], #operand)
                },
                OperandDecode::DropUnknownBits => quote! {
                    #rt::encoding::flags_dropping_unknown_bits::<#ty>(words[#index], #operand)
                },
            };
            quote!(#member: #value?)
        });
        let rules = self.rule_checks(rt, false);
        let construct = quote!(Self { #(#fields),* });
        let result = if rules.is_empty() {
            quote!(::core::result::Result::Ok(#construct))
        } else {
            quote! {
                let packet = #construct;
                #(#rules)*
                ::core::result::Result::Ok(packet)
            }
        };
        quote! {
            let #words = #rt::encoding::operand_words::<Self>(packet, #used)?;
            #result
        }
    }

    /// The checks of the rules decode (`validate` false, on the decoded
    /// `packet`) or validate (on `self`) runs.
    fn rule_checks(&self, rt: &syn::Path, validate: bool) -> Vec<TokenStream> {
        self.rules
            .iter()
            .filter(|r| r.rule.needs_limits() == validate)
            .map(|r| {
                self.rule_check(r, rt, validate).unwrap_or_else(|| {
                    let message = format!(
                        "rule `{}` names a field or flag the packet does not have",
                        r.rule.full_text()
                    );
                    quote_spanned!(r.span=> ::core::compile_error!(#message);)
                })
            })
            .collect()
    }

    fn field(&self, name: &str) -> Option<&CodecOperand> {
        self.operands.iter().find(|o| o.name == name)
    }

    /// `if <rule broken> { return Err(...) }`; `None` if the rule names a
    /// field the item does not have, or a condition without its flag (the
    /// builders of the model check both).
    fn rule_check(&self, r: &CodecRule, rt: &syn::Path, validate: bool) -> Option<TokenStream> {
        let (target, error) = if validate {
            (quote!(self), quote!(#rt::codec::Violation))
        } else {
            (quote!(packet), quote!(#rt::codec::DecodeError::Rule))
        };
        let rule = &r.rule;
        // A sum of two or more terms is computed in u128, so it cannot
        // overflow. Operands are compared by their word: the value of an
        // unsigned integer of any width.
        let wide = rule.lhs.len() > 1 || rule.rhs.len() > 1;
        let term = |t: &Term| -> Option<TokenStream> {
            let value = match t {
                Term::Operand(n) => {
                    let member = &self.field(n)?.member;
                    quote!(#rt::codec::OperandValue::to_word(&#target.#member))
                }
                Term::Limit(l) => {
                    let f = ident(l.field());
                    quote!(limits.#f)
                }
                Term::Literal(v) => {
                    let v = Literal::u64_unsuffixed(*v);
                    return Some(quote!(#v));
                }
            };
            Some(if wide {
                quote!(u128::from(#value))
            } else {
                value
            })
        };
        let lhs = rule.lhs.iter().map(term).collect::<Option<Vec<_>>>()?;
        let rhs = rule.rhs.iter().map(term).collect::<Option<Vec<_>>>()?;
        // The emitted test is the negation of the rule.
        let broken = match rule.op {
            CmpOp::Lt => quote!(>=),
            CmpOp::Le => quote!(>),
            CmpOp::Eq => quote!(!=),
            CmpOp::Ne => quote!(==),
            CmpOp::Ge => quote!(<),
            CmpOp::Gt => quote!(<=),
        };
        let cond = match (&rule.when, &r.flag) {
            (Some(c), Some(flag)) => {
                let member = &self.field(&c.operand)?.member;
                let not = c.negated.then(|| quote!(!));
                Some(quote!(#not #target.#member.contains(#flag) &&))
            }
            (None, _) => None,
            (Some(_), None) => return None,
        };
        let on = self.operands.iter().find(|o| o.index == r.operand)?;
        let (text, index, name, member) = (
            rule.full_text(),
            Literal::u8_unsuffixed(on.index),
            &on.name,
            &on.member,
        );
        Some(quote_spanned! {r.span=>
            if #cond #(#lhs)+* #broken #(#rhs)+* {
                return ::core::result::Result::Err(#error {
                    operand: #rt::codec::OperandRef::of::<Self>(#index, #name),
                    rule: #text,
                    value: #rt::codec::OperandValue::to_word(&#target.#member),
                });
            }
        })
    }
}
