//! The macro inputs as models: a packet struct, a dispatch enum, a newtype.
//! Shape errors (an enum where a struct belongs, a variant that does not wrap
//! one type) are recorded here; [`crate::check`] does the rest.

use syn::{Data, DeriveInput, Fields, Ident, Member, Type, Variant as SynVariant};

use crate::attr::{reject_all, DispatchAttrs, FieldAttrs, NewtypeAttrs, PacketAttrs};
use crate::ctxt::Ctxt;

/// A `#[derive(Packet)]` struct.
pub struct PacketStruct<'a> {
    /// The struct.
    pub input: &'a DeriveInput,
    /// Its `#[hqq(...)]` attributes.
    pub attrs: PacketAttrs,
    /// Its fields, in declaration order.
    pub fields: Vec<Field<'a>>,
}

/// A field of a packet struct: one operand.
pub struct Field<'a> {
    /// The field as written (for spans).
    pub original: &'a syn::Field,
    /// `self.<member>`.
    pub member: Member,
    /// The operand's name in errors: the field name or its position.
    pub name: String,
    /// The field's type.
    pub ty: &'a Type,
    /// Its `#[hqq(...)]` attributes.
    pub attrs: FieldAttrs,
}

/// A `#[derive(Dispatch)]` enum.
pub struct DispatchEnum<'a> {
    /// The enum.
    pub input: &'a DeriveInput,
    /// Its `#[hqq(...)]` attributes.
    pub attrs: DispatchAttrs,
    /// The variants that wrap one packet type.
    pub variants: Vec<Variant<'a>>,
}

/// A dispatch variant, `Name(PacketType)`.
pub struct Variant<'a> {
    /// The variant as written (for spans).
    pub original: &'a SynVariant,
    /// The variant's name.
    pub ident: &'a Ident,
    /// The wrapped packet type.
    pub ty: &'a Type,
}

/// A `#[derive(OperandValue)]` struct with one field.
pub struct Newtype<'a> {
    /// The struct.
    pub input: &'a DeriveInput,
    /// Its `#[hqq(...)]` attributes.
    pub attrs: NewtypeAttrs,
    /// `self.<member>`.
    pub member: Member,
    /// The wrapped type.
    pub ty: &'a Type,
}

fn members(fields: &Fields) -> impl Iterator<Item = (Member, String, &syn::Field)> {
    fields.iter().enumerate().map(|(i, f)| match &f.ident {
        Some(ident) => {
            let name = ident.to_string();
            let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
            (Member::Named(ident.clone()), name, f)
        }
        None => (Member::Unnamed(i.into()), i.to_string(), f),
    })
}

impl<'a> PacketStruct<'a> {
    /// The model of `input`, or `None` (with an error in `cx`) if it is not a struct.
    pub fn from_ast(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let Data::Struct(data) = &input.data else {
            cx.error_spanned_by(
                &input.ident,
                "#[derive(Packet)] works on structs only: a packet is one opcode with its operands as fields; \
                 to handle several packet types, derive `Dispatch` on an enum that wraps them",
            );
            return None;
        };
        let attrs = PacketAttrs::from_attrs(cx, &input.attrs);
        let fields = members(&data.fields)
            .map(|(member, name, original)| Field {
                original,
                member,
                name,
                ty: &original.ty,
                attrs: FieldAttrs::from_attrs(cx, &original.attrs),
            })
            .collect();
        Some(PacketStruct {
            input,
            attrs,
            fields,
        })
    }
}

impl<'a> DispatchEnum<'a> {
    /// The model of `input`, or `None` (with an error in `cx`) if it is not an enum.
    pub fn from_ast(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let Data::Enum(data) = &input.data else {
            cx.error_spanned_by(
                &input.ident,
                "#[derive(Dispatch)] works on enums only: write an enum with one variant per packet type, \
                 e.g. `enum App { Ping(Ping), Pong(Pong) }`",
            );
            return None;
        };
        let attrs = DispatchAttrs::from_attrs(cx, &input.attrs);
        let mut variants = Vec::new();
        for v in &data.variants {
            reject_all(cx, &v.attrs, "a dispatch variant");
            if let Some((_, discriminant)) = &v.discriminant {
                cx.error_spanned_by(
                    discriminant,
                    "a dispatch variant takes its opcode from the packet type it wraps; remove the discriminant",
                );
            }
            match &v.fields {
                Fields::Unnamed(f) if f.unnamed.len() == 1 => variants.push(Variant {
                    original: v,
                    ident: &v.ident,
                    ty: &f.unnamed[0].ty,
                }),
                _ => cx.error_spanned_by(
                    v,
                    format!(
                        "a dispatch variant wraps exactly one packet type, e.g. `{0}({0})`",
                        v.ident
                    ),
                ),
            }
        }
        Some(DispatchEnum {
            input,
            attrs,
            variants,
        })
    }
}

impl<'a> Newtype<'a> {
    /// The model of `input`, or `None` (with an error in `cx`) if it is not a
    /// struct with exactly one field.
    pub fn from_ast(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = NewtypeAttrs::from_attrs(cx, &input.attrs);
        let Data::Struct(data) = &input.data else {
            cx.error_spanned_by(
                &input.ident,
                "#[derive(OperandValue)] works on a struct with one field, e.g. `struct Price(u32);`",
            );
            return None;
        };
        let mut fields = members(&data.fields);
        match (fields.next(), fields.next()) {
            (Some((member, _, field)), None) => {
                reject_all(cx, &field.attrs, "a newtype field");
                Some(Newtype {
                    input,
                    attrs,
                    member,
                    ty: &field.ty,
                })
            }
            _ => {
                cx.error_spanned_by(
                    &input.ident,
                    "#[derive(OperandValue)] needs a struct with exactly one field (the operand word's type), \
                     e.g. `struct Price(u32);`",
                );
                None
            }
        }
    }
}
