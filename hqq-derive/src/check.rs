//! Validates the models of [`crate::ast`]: opcodes against the core spec,
//! operand indices, field types, generics, handler method names.

use std::collections::HashMap;

use hqq_gen::model::Rule;
use hqq_gen::rule::{self, RuleOperand, RuleOperandKind};
use quote::ToTokens;
use syn::{DeriveInput, LitStr, Type};

use crate::ast::{DispatchEnum, Newtype, PacketStruct};
use crate::core_spec::{application_opcode_problem, application_range_hint};
use crate::ctxt::Ctxt;

/// Operands per packet (words 1..=7), fixed by the wire format.
const OPERANDS: u64 = 7;

/// What the field types of a packet may be, for messages.
pub const OPERAND_TYPES: &str = "u64, u32, u16, u8, bool, i64, `hqq::runtime::codec::Version`, \
    an enum or flag set generated from a spec, or a newtype over one of these with `#[derive(OperandValue)]`";

/// A checked packet struct: its opcode, name and each field's operand index.
pub struct PacketLayout {
    /// The opcode byte.
    pub opcode: u8,
    /// The packet name (`PacketCodec::NAME`).
    pub name: String,
    /// Operand index of each field, in declaration order.
    pub indices: Vec<u8>,
    /// The fields' `#[hqq(rule = "...")]`, parsed.
    pub rules: Vec<FieldRule>,
}

/// A parsed `#[hqq(rule = "...")]`.
pub struct FieldRule {
    /// The field it is on (an index into `PacketStruct::fields`).
    pub field: usize,
    /// The rule.
    pub rule: Rule,
    /// The attribute's string, where errors point.
    pub lit: LitStr,
}

/// Records an error if `input` has generic parameters.
pub fn no_generics(cx: &mut Ctxt, input: &DeriveInput, derive: &str, why: &str) {
    let generics = &input.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        cx.error_spanned_by(
            generics,
            format!(
                "#[derive({derive})] does not support generic parameters: {why}; \
                 remove them, or derive on a concrete type (a newtype per instantiation)"
            ),
        );
    }
}

/// Checks a packet struct and works out its layout.
pub fn packet(cx: &mut Ctxt, p: &PacketStruct) -> Option<PacketLayout> {
    no_generics(
        cx,
        p.input,
        "Packet",
        "a packet has one fixed 64-byte layout",
    );
    let opcode = match &p.attrs.opcode {
        None => {
            cx.error_spanned_by(
                &p.input.ident,
                format!(
                    "missing `#[hqq(opcode = ...)]`: a packet needs its opcode byte, e.g. \
                     `#[hqq(opcode = 0x{:02X})]` on `struct {}`",
                    crate::core_spec::core().ranges.application.start(),
                    p.input.ident
                ),
            );
            None
        }
        Some(attr) => match u8::try_from(attr.value) {
            Err(_) => {
                cx.error_spanned_by(
                    &attr.lit,
                    format!(
                        "opcode {} does not fit a byte; {}",
                        attr.lit,
                        application_range_hint()
                    ),
                );
                None
            }
            Ok(code) => match application_opcode_problem(code) {
                Some(problem) => {
                    cx.error_spanned_by(&attr.lit, problem);
                    None
                }
                None => Some(code),
            },
        },
    };
    let indices = operand_indices(cx, p);
    for f in &p.fields {
        operand_type(cx, f.ty);
    }
    let rules = rules(cx, p);
    let name = p
        .attrs
        .name
        .as_ref()
        .map_or_else(|| p.input.ident.to_string(), |n| n.value());
    Some(PacketLayout {
        opcode: opcode?,
        name,
        indices: indices?,
        rules,
    })
}

/// The fields' rules, parsed by hqq-gen's rule parser against the fields:
/// the same language and messages as a spec operand's `rules:`.
fn rules(cx: &mut Ctxt, p: &PacketStruct) -> Vec<FieldRule> {
    let operands: Vec<RuleOperand> = p
        .fields
        .iter()
        .map(|f| RuleOperand {
            name: &f.name,
            kind: rule_kind(f.ty),
        })
        .collect();
    let mut rules = Vec::new();
    for (field, f) in p.fields.iter().enumerate() {
        for lit in &f.attrs.rules {
            let text = lit.value();
            let (check, when) = match text.split_once(" when ") {
                Some((check, when)) => (check, Some(when)),
                None => (text.as_str(), None),
            };
            match rule::parse(check, when, "", &operands) {
                Ok(rule) => rules.push(FieldRule {
                    field,
                    rule,
                    lit: lit.clone(),
                }),
                Err(e) => cx.error_spanned_by(lit, format!("field `{}`: {e}", f.name)),
            }
        }
    }
    rules
}

/// What a rule may do with a field of type `ty`. Only the type as written
/// is known here: unsigned integers are terms of a check; a type that is
/// not a primitive may be a flag set, so a condition may test it, and the
/// compiler checks that the flag exists.
fn rule_kind(ty: &Type) -> RuleOperandKind<'static> {
    let Type::Path(p) = ty else {
        return RuleOperandKind::Other;
    };
    let segments: Vec<String> = p
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let primitive = match segments.as_slice() {
        [name] => Some(name.as_str()),
        [root, module, name] if (root == "core" || root == "std") && module == "primitive" => {
            Some(name.as_str())
        }
        _ => None,
    }
    .filter(|name| PRIMITIVES.contains(name));
    match primitive {
        Some("u8" | "u16" | "u32" | "u64") => RuleOperandKind::Unsigned,
        Some(_) => RuleOperandKind::Other,
        None if p.qself.is_none() => RuleOperandKind::Flags(None),
        None => RuleOperandKind::Other,
    }
}

/// The primitive types a field may have, or that [`operand_type`] names.
const PRIMITIVES: [&str; 17] = [
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "bool",
    "char", "str", "f32", "f64",
];

/// Operand index of each field: `#[hqq(operand = N)]`, else one past the
/// previous field's (0 for the first).
fn operand_indices(cx: &mut Ctxt, p: &PacketStruct) -> Option<Vec<u8>> {
    if let Some(extra) = p.fields.get(OPERANDS as usize) {
        cx.error_spanned_by(
            extra.original,
            format!(
                "a packet carries at most {OPERANDS} operands, and `{}` is field {} of `{}`; \
                 pack several small values into one u64 field, or move data to the slot's payload",
                extra.name,
                OPERANDS + 1,
                p.input.ident
            ),
        );
        return None;
    }
    let mut indices = Vec::with_capacity(p.fields.len());
    let mut users: HashMap<u64, &str> = HashMap::new();
    let mut next = 0u64;
    let mut ok = true;
    for f in &p.fields {
        let index = match &f.attrs.operand {
            Some(attr) => {
                if attr.value >= OPERANDS {
                    cx.error_spanned_by(
                        &attr.lit,
                        format!(
                            "operand index {} is out of range: a packet has operands 0..={} (words 1..={})",
                            attr.value,
                            OPERANDS - 1,
                            OPERANDS
                        ),
                    );
                    ok = false;
                    continue;
                }
                attr.value
            }
            None if next >= OPERANDS => {
                cx.error_spanned_by(
                    f.original,
                    format!(
                        "field `{}` follows operand {} and would take operand {next}, but the last operand is {}; \
                         give it a free index with `#[hqq(operand = N)]`",
                        f.name,
                        next - 1,
                        OPERANDS - 1
                    ),
                );
                ok = false;
                continue;
            }
            None => next,
        };
        if let Some(first) = users.insert(index, &f.name) {
            let at = f
                .attrs
                .operand
                .as_ref()
                .map_or_else(|| f.original.to_token_stream(), |a| a.lit.to_token_stream());
            cx.error_spanned_by(
                at,
                format!(
                    "field `{}` is on operand {index}, which field `{first}` already uses; \
                     give one of them another index with `#[hqq(operand = N)]`",
                    f.name
                ),
            );
            ok = false;
        }
        next = index + 1;
        indices.push(index as u8);
    }
    ok.then_some(indices)
}

/// Records an error if `ty` can never be an operand (the trait bound catches
/// the rest, with the note of `OperandValue`'s `on_unimplemented`).
pub fn operand_type(cx: &mut Ctxt, ty: &Type) {
    let shown = ty.to_token_stream().to_string();
    let fix = match ty {
        Type::Reference(_) | Type::Ptr(_) => {
            Some("an operand is a value in the packet, not a pointer into this process")
        }
        Type::Array(_) | Type::Slice(_) | Type::Tuple(_) => Some(
            "an operand is one 64-bit word; give each value its own field, or move the data to the slot's payload",
        ),
        Type::BareFn(_) | Type::ImplTrait(_) | Type::TraitObject(_) | Type::Never(_) => {
            Some("an operand is one 64-bit word")
        }
        Type::Path(p) if p.qself.is_none() => {
            match p.path.get_ident().map(ToString::to_string).as_deref() {
                Some("f32" | "f64") => Some(
                    "floats are not operand types; store `value.to_bits()` in a u64 (or u32) field",
                ),
                Some("i8" | "i16" | "i32") => {
                    Some("signed operands are i64; use i64, or u8/u16/u32 for values that are never negative")
                }
                Some("u128" | "i128") => {
                    Some("an operand is 64 bits; split the value into two u64 fields")
                }
                Some("usize" | "isize") => Some(
                    "the wire has fixed 64-bit words; use u64 or i64 so both peers agree on the width",
                ),
                Some("char" | "str" | "String") => {
                    Some("text goes in the slot's payload bytes, not in operands")
                }
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(fix) = fix {
        cx.error_spanned_by(
            ty,
            format!("`{shown}` cannot be an HQQ operand: {fix}. Operand types are {OPERAND_TYPES}"),
        );
    }
}

/// Checks a dispatch enum; the handler method of each variant is `on_<snake>`.
pub fn dispatch(cx: &mut Ctxt, d: &DispatchEnum) {
    no_generics(
        cx,
        d.input,
        "Dispatch",
        "the handler trait and decoding are written for concrete packet types",
    );
    if matches!(&d.input.data, syn::Data::Enum(e) if e.variants.is_empty()) {
        cx.error_spanned_by(
            &d.input.ident,
            "#[derive(Dispatch)] needs at least one variant, e.g. `Ping(Ping)`",
        );
    }
    let mut methods: HashMap<String, &syn::Ident> = HashMap::new();
    for v in &d.variants {
        operand_free_type(cx, v.ty);
        let method = handler_method(v.ident);
        if method == CORE_METHOD {
            cx.error_spanned_by(
                v.ident,
                format!(
                    "variant `{}` would get the handler method `{CORE_METHOD}`, which receives the core protocol's packets; rename the variant",
                    v.ident
                ),
            );
        } else if let Some(first) = methods.insert(method.clone(), v.ident) {
            cx.error_spanned_by(
                v.ident,
                format!(
                    "variants `{first}` and `{}` both get the handler method `{method}`; rename one of them",
                    v.ident
                ),
            );
        }
    }
}

/// A dispatch variant wraps a packet type: references and the like never are.
fn operand_free_type(cx: &mut Ctxt, ty: &Type) {
    if !matches!(ty, Type::Path(_)) {
        cx.error_spanned_by(
            ty,
            "a dispatch variant wraps a packet type by value (a `#[derive(Packet)]` struct or one generated by `include_spec!`)",
        );
    }
}

/// The handler method for the core protocol's packets.
pub const CORE_METHOD: &str = "on_core";

/// `on_<snake case of the variant>`: `StartStream` -> `on_start_stream`,
/// the same case rule hqq-gen uses for the generated `Handler` methods.
pub fn handler_method(variant: &syn::Ident) -> String {
    hqq_gen::names::handler_method(&variant.to_string())
}

/// Checks a newtype: no generics, a wrapped type that can be an operand.
pub fn newtype(cx: &mut Ctxt, n: &Newtype) {
    no_generics(
        cx,
        n.input,
        "OperandValue",
        "an operand type has one fixed encoding",
    );
    operand_type(cx, n.ty);
}
