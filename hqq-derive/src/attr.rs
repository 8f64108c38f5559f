//! Reads `#[hqq(...)]` attributes. Each macro accepts its own keys; an
//! unknown key is an error that lists the keys the position accepts.

use syn::meta::ParseNestedMeta;
use syn::{Attribute, Ident, LitInt, LitStr, Path};

use crate::ctxt::Ctxt;

/// An integer written in an attribute, with its literal for error spans.
pub struct IntAttr {
    /// The value (any width: checks say what fits).
    pub value: u64,
    /// The literal as written.
    pub lit: LitInt,
}

/// `#[hqq(...)]` on a `#[derive(Packet)]` struct.
#[derive(Default)]
pub struct PacketAttrs {
    /// `opcode = 0x80`
    pub opcode: Option<IntAttr>,
    /// `name = "Ping"`
    pub name: Option<LitStr>,
    /// `crate = "ipc"`
    pub krate: Option<Path>,
}

/// `#[hqq(...)]` on a field of a `#[derive(Packet)]` struct.
#[derive(Default)]
pub struct FieldAttrs {
    /// `operand = 3`
    pub operand: Option<IntAttr>,
    /// `rule = "offset + size <= limits.buffer_size"`, any number of times.
    pub rules: Vec<LitStr>,
}

/// `#[hqq(...)]` on a `#[derive(Dispatch)]` enum.
#[derive(Default)]
pub struct DispatchAttrs {
    /// `handler = PeerHandler`
    pub handler: Option<Ident>,
    /// `crate = "ipc"`
    pub krate: Option<Path>,
}

/// `#[hqq(...)]` on a `#[derive(OperandValue)]` newtype.
#[derive(Default)]
pub struct NewtypeAttrs {
    /// `crate = "ipc"`
    pub krate: Option<Path>,
}

/// `crate = "path"`: where the `hqq` facade is, for a renamed dependency
/// (as serde's `#[serde(crate = "...")]`). Returns whether `meta` was it.
fn krate(meta: &ParseNestedMeta, out: &mut Option<Path>) -> syn::Result<bool> {
    if !meta.path.is_ident("crate") {
        return Ok(false);
    }
    if out.is_some() {
        return Err(duplicate(meta, "crate"));
    }
    let lit: LitStr = meta.value()?.parse()?;
    *out = Some(lit.parse().map_err(|e| {
        syn::Error::new(
            lit.span(),
            format!("`crate = \"{}\"` is not a path: {e}; write the name the `hqq` dependency has in this crate, e.g. `crate = \"ipc\"`", lit.value()),
        )
    })?);
    Ok(true)
}

/// Calls `each` for every key of every `#[hqq(...)]` in `attrs`, recording
/// parse errors in `cx`.
fn for_each_key(
    cx: &mut Ctxt,
    attrs: &[Attribute],
    mut each: impl FnMut(&ParseNestedMeta) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("hqq")) {
        if let Err(e) = attr.parse_nested_meta(|meta| each(&meta)) {
            cx.syn_error(e);
        }
    }
}

fn unknown_key(meta: &ParseNestedMeta, position: &str, accepted: &str) -> syn::Error {
    let key = meta
        .path
        .get_ident()
        .map_or_else(|| "this key".to_owned(), |i| format!("`{i}`"));
    meta.error(format!(
        "unknown hqq attribute {key} on {position}; {position} accepts {accepted}"
    ))
}

fn duplicate(meta: &ParseNestedMeta, key: &str) -> syn::Error {
    meta.error(format!("duplicate hqq attribute `{key}`; give it once"))
}

fn int(meta: &ParseNestedMeta) -> syn::Result<IntAttr> {
    let lit: LitInt = meta.value()?.parse()?;
    let value = lit.base10_parse::<u64>()?;
    Ok(IntAttr { value, lit })
}

impl PacketAttrs {
    /// The attributes of a packet struct.
    pub fn from_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = PacketAttrs::default();
        for_each_key(cx, attrs, |meta| {
            if meta.path.is_ident("opcode") {
                // #[hqq(opcode = 0x80)]
                if out.opcode.is_some() {
                    return Err(duplicate(meta, "opcode"));
                }
                out.opcode = Some(int(meta)?);
            } else if meta.path.is_ident("name") {
                // #[hqq(name = "Ping")]
                if out.name.is_some() {
                    return Err(duplicate(meta, "name"));
                }
                out.name = Some(meta.value()?.parse()?);
            } else if !krate(meta, &mut out.krate)? {
                return Err(unknown_key(
                    meta,
                    "a packet struct",
                    "`opcode = <byte>`, `name = \"<packet name>\"` and `crate = \"<path of hqq>\"`",
                ));
            }
            Ok(())
        });
        out
    }
}

impl FieldAttrs {
    /// The attributes of a packet field.
    pub fn from_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = FieldAttrs::default();
        for_each_key(cx, attrs, |meta| {
            if meta.path.is_ident("operand") {
                // #[hqq(operand = 3)]
                if out.operand.is_some() {
                    return Err(duplicate(meta, "operand"));
                }
                out.operand = Some(int(meta)?);
            } else if meta.path.is_ident("rule") {
                // #[hqq(rule = "len <= limits.buffer_size when flags.Sized")]
                out.rules.push(meta.value()?.parse()?);
            } else {
                return Err(unknown_key(
                    meta,
                    "a packet field",
                    "`operand = <0..=6>` and `rule = \"<check>\"` (also `\"<check> when <field>.<Flag>\"`)",
                ));
            }
            Ok(())
        });
        out
    }
}

impl DispatchAttrs {
    /// The attributes of a dispatch enum.
    pub fn from_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = DispatchAttrs::default();
        for_each_key(cx, attrs, |meta| {
            if meta.path.is_ident("handler") {
                // #[hqq(handler = PeerHandler)]
                if out.handler.is_some() {
                    return Err(duplicate(meta, "handler"));
                }
                out.handler = Some(meta.value()?.parse()?);
            } else if !krate(meta, &mut out.krate)? {
                return Err(unknown_key(
                    meta,
                    "a dispatch enum",
                    "`handler = <trait name>` and `crate = \"<path of hqq>\"`",
                ));
            }
            Ok(())
        });
        out
    }
}

impl NewtypeAttrs {
    /// The attributes of an operand newtype.
    pub fn from_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = NewtypeAttrs::default();
        for_each_key(cx, attrs, |meta| {
            if !krate(meta, &mut out.krate)? {
                return Err(unknown_key(
                    meta,
                    "#[derive(OperandValue)]",
                    "only `crate = \"<path of hqq>\"`",
                ));
            }
            Ok(())
        });
        out
    }
}

/// Records an error for every `#[hqq(...)]` in `attrs`: `position` takes none.
pub fn reject_all(cx: &mut Ctxt, attrs: &[Attribute], position: &str) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("hqq")) {
        cx.error_spanned_by(
            attr,
            format!("{position} takes no hqq attributes; remove this one"),
        );
    }
}
