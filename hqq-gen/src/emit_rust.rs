//! Emits the Rust code of a spec as tokens (quote).
//!
//! The output is a list of items meant to be the body of one module: the
//! protocol constants, `OpCode`, the enum and flag-set types, one struct per
//! opcode implementing `PacketCodec`, `Message`, `Handler` and `dispatch`
//! (the last four only if the spec has opcodes), and the `rpc` module of a
//! spec with `methods:` ([`crate::emit_rpc`]).
//! Every path outside the module is fully qualified through
//! [`EmitOptions::runtime_path`], so the code compiles wherever it lands.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

use crate::model::{
    CmpOp, Direction, EnumType, FlagRule, FlagSet, Imported, Layer, Opcode, Operand, OperandType,
    Rule, Scalar, Spec, Term, UnknownBits,
};
use crate::names;

/// How generated code reaches the runtime.
#[derive(Clone)]
pub struct EmitOptions {
    /// Path of the `hqq_runtime` crate as seen from the generated code:
    /// `::hqq::runtime` (the default, for applications depending on the
    /// `hqq` facade) or `crate` (for hqq-runtime itself).
    pub runtime_path: syn::Path,
}

impl EmitOptions {
    /// Options with `runtime_path` parsed from a string such as `"crate"` or
    /// `"::hqq::runtime"`.
    pub fn new(runtime_path: &str) -> Result<Self, syn::Error> {
        Ok(EmitOptions {
            runtime_path: syn::parse_str(runtime_path)?,
        })
    }
}

impl std::fmt::Debug for EmitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = &self.runtime_path;
        f.debug_struct("EmitOptions")
            .field("runtime_path", &quote!(#path).to_string())
            .finish()
    }
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            runtime_path: syn::parse_quote!(::hqq::runtime),
        }
    }
}

/// The generated items of `spec`, unformatted.
pub fn emit_rust(spec: &Spec, options: &EmitOptions) -> TokenStream {
    let e = Emitter {
        spec,
        rt: &options.runtime_path,
    };
    let constants = e.constants();
    let rpc = crate::emit_rpc::emit_rpc(spec, &options.runtime_path);
    if spec.opcodes.is_empty() {
        // A spec of RPC methods (or types) only: no packets to dispatch.
        let enums = spec.enums.iter().map(|t| e.enum_type(t));
        let flags = spec.flags.iter().map(|t| e.flag_set(t));
        return quote! {
            #constants
            #(#enums)*
            #(#flags)*
            #rpc
        };
    }
    let opcode_enum = e.opcode_enum();
    let enums = spec.enums.iter().map(|t| e.enum_type(t));
    let flags = spec.flags.iter().map(|t| e.flag_set(t));
    let packets = spec.opcodes.iter().map(|op| e.packet(op));
    let message = e.message();
    let handler = e.handler();
    quote! {
        #constants
        #opcode_enum
        #(#enums)*
        #(#flags)*
        #(#packets)*
        #message
        #handler
        #rpc
    }
}

struct Emitter<'a> {
    spec: &'a Spec,
    rt: &'a syn::Path,
}

/// `#[doc = "..."]` lines for `text` (one per line, as `///` would give).
pub(crate) fn doc(text: &str) -> TokenStream {
    let lines = text.lines().map(|l| {
        let l = if l.is_empty() {
            String::new()
        } else {
            format!(" {l}")
        };
        quote!(#[doc = #l])
    });
    quote!(#(#lines)*)
}

fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

fn hex_u8(v: u8) -> Literal {
    format!("{v:#04x}")
        .parse()
        .expect("a hex integer literal is a valid token")
}

fn hex_u64(v: u64) -> Literal {
    format!("{v:#04x}")
        .parse()
        .expect("a hex integer literal is a valid token")
}

fn handler_method(op: &Opcode) -> Ident {
    format_ident!("on_{}", names::snake(&op.name))
}

impl Emitter<'_> {
    fn flag_const(&self, set: &FlagSet, flag: &str) -> TokenStream {
        let ty = ident(&set.name);
        let c = ident(&names::shouty(flag));
        quote!(#ty::#c)
    }

    fn constants(&self) -> TokenStream {
        let rt = self.rt;
        let name = &self.spec.protocol.name;
        let major = Literal::u8_unsuffixed(self.spec.protocol.version.major);
        let minor = Literal::u8_unsuffixed(self.spec.protocol.version.minor);
        let core = self.spec.ranges.core.iter().map(|r| {
            let (a, b) = (hex_u8(*r.start()), hex_u8(*r.end()));
            quote!(#a..=#b)
        });
        let n_core = Literal::usize_unsuffixed(self.spec.ranges.core.len());
        let (app_a, app_b) = (
            hex_u8(*self.spec.ranges.application.start()),
            hex_u8(*self.spec.ranges.application.end()),
        );
        let version_doc = doc(&format!(
            "The protocol version this spec describes.\n\n{}",
            self.spec.protocol.compatibility
        ));
        quote! {
            /// The protocol's name.
            pub const PROTOCOL_NAME: &str = #name;
            #version_doc
            pub const PROTOCOL_VERSION: #rt::codec::Version = #rt::codec::Version::new(#major, #minor);
            /// Opcodes the core HQQ protocol owns.
            pub const CORE_OPCODES: [::core::ops::RangeInclusive<u8>; #n_core] = [#(#core),*];
            /// Opcodes applications may use for their own packets.
            pub const APPLICATION_OPCODES: ::core::ops::RangeInclusive<u8> = #app_a..=#app_b;
        }
    }

    fn opcode_enum(&self) -> TokenStream {
        let rt = self.rt;
        let ops = &self.spec.opcodes;
        let n = Literal::usize_unsuffixed(ops.len());
        let variants = ops.iter().map(|op| {
            let d = doc(&op.doc);
            let v = ident(&op.name);
            let code = hex_u8(op.code);
            quote!(#d #v = #code)
        });
        let all = ops.iter().map(|op| ident(&op.name));
        let names_arms = ops.iter().map(|op| {
            let v = ident(&op.name);
            let name = &op.name;
            quote!(OpCode::#v => #name)
        });
        let dir_arms = ops.iter().map(|op| {
            let v = ident(&op.name);
            let d = match op.direction {
                Direction::PrimaryToSecondary => quote!(PrimaryToSecondary),
                Direction::SecondaryToPrimary => quote!(SecondaryToPrimary),
                Direction::Both => quote!(Both),
            };
            quote!(OpCode::#v => #rt::codec::Direction::#d)
        });
        let from_arms = ops.iter().map(|op| {
            let v = ident(&op.name);
            let code = hex_u8(op.code);
            quote!(#code => ::core::option::Option::Some(OpCode::#v))
        });
        quote! {
            /// The opcodes of this protocol.
            #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
            #[repr(u8)]
            pub enum OpCode {
                #(#variants,)*
            }

            impl OpCode {
                /// Every opcode, in spec order.
                pub const ALL: [OpCode; #n] = [#(OpCode::#all),*];

                /// The opcode byte.
                #[inline]
                pub const fn code(self) -> u8 {
                    self as u8
                }

                /// The opcode's name in the spec.
                pub const fn name(self) -> &'static str {
                    match self {
                        #(#names_arms,)*
                    }
                }

                /// Who sends packets of this opcode.
                pub const fn direction(self) -> #rt::codec::Direction {
                    match self {
                        #(#dir_arms,)*
                    }
                }

                /// The opcode with byte `code`, if there is one.
                #[inline]
                pub const fn from_code(code: u8) -> ::core::option::Option<Self> {
                    match code {
                        #(#from_arms,)*
                        _ => ::core::option::Option::None,
                    }
                }
            }

            #[automatically_derived]
            impl ::core::convert::TryFrom<u8> for OpCode {
                type Error = #rt::codec::DecodeError;

                #[inline]
                fn try_from(code: u8) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    match OpCode::from_code(code) {
                        ::core::option::Option::Some(op) => ::core::result::Result::Ok(op),
                        ::core::option::Option::None => {
                            ::core::result::Result::Err(#rt::codec::DecodeError::UnknownOpcode(code))
                        }
                    }
                }
            }

            #[automatically_derived]
            impl ::core::fmt::Display for OpCode {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(self.name())
                }
            }
        }
    }

    /// A type imported from the core spec is the runtime's own (one
    /// `ErrorCode` for every protocol), re-exported instead of copied.
    fn core_reexport(&self, name: &str, imported: Option<&Imported>) -> Option<TokenStream> {
        let rt = self.rt;
        let ty = ident(name);
        let from = imported.filter(|i| i.layer == Layer::Core)?;
        let d = doc(&format!(
            "Imported from `{}` ({}).",
            from.file, from.protocol
        ));
        Some(quote! {
            #d
            pub use #rt::protocol::#ty;
        })
    }

    fn enum_type(&self, t: &EnumType) -> TokenStream {
        if let Some(reexport) = self.core_reexport(&t.name, t.imported.as_ref()) {
            return reexport;
        }
        let rt = self.rt;
        let ty = ident(&t.name);
        let d = doc(&t.doc);
        let n = Literal::usize_unsuffixed(t.values.len());
        let variants = t.values.iter().map(|v| {
            let d = doc(&v.doc);
            let name = ident(&v.name);
            let value = hex_u64(v.value);
            quote!(#d #name = #value)
        });
        let all = t.values.iter().map(|v| ident(&v.name));
        let from_arms = t.values.iter().map(|v| {
            let name = ident(&v.name);
            let value = hex_u64(v.value);
            quote!(#value => ::core::option::Option::Some(#ty::#name))
        });
        let name_arms = t.values.iter().map(|v| {
            let name = ident(&v.name);
            let s = &v.name;
            quote!(#ty::#name => #s)
        });
        let desc_arms = t.values.iter().map(|v| {
            let name = ident(&v.name);
            let s = v.doc.trim_end_matches('.');
            quote!(#ty::#name => #s)
        });
        let error_impl = t.error.then(|| {
            quote! {
                #[automatically_derived]
                impl ::std::error::Error for #ty {}
            }
        });
        let display = if t.error {
            quote!(::core::write!(
                f,
                "{} ({}, {:#04x})",
                self.description(),
                self.name(),
                self.value()
            ))
        } else {
            quote!(f.write_str(self.name()))
        };
        quote! {
            #d
            #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
            #[repr(u64)]
            pub enum #ty {
                #(#variants,)*
            }

            impl #ty {
                /// Every value, in spec order.
                pub const ALL: [#ty; #n] = [#(#ty::#all),*];

                /// The value on the wire.
                #[inline]
                pub const fn value(self) -> u64 {
                    self as u64
                }

                /// The variant with wire value `value`, if there is one.
                #[inline]
                pub const fn from_value(value: u64) -> ::core::option::Option<Self> {
                    match value {
                        #(#from_arms,)*
                        _ => ::core::option::Option::None,
                    }
                }

                /// The variant's name in the spec.
                pub const fn name(self) -> &'static str {
                    match self {
                        #(#name_arms,)*
                    }
                }

                /// The variant's description in the spec.
                pub const fn description(self) -> &'static str {
                    match self {
                        #(#desc_arms,)*
                    }
                }
            }

            #[automatically_derived]
            impl ::core::fmt::Display for #ty {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    #display
                }
            }

            #error_impl

            #[automatically_derived]
            impl #rt::codec::OperandValue for #ty {
                #[inline]
                fn to_word(&self) -> u64 {
                    self.value()
                }

                #[inline]
                fn from_word(
                    word: u64,
                    operand: #rt::codec::OperandRef,
                ) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    match #ty::from_value(word) {
                        ::core::option::Option::Some(value) => ::core::result::Result::Ok(value),
                        ::core::option::Option::None => ::core::result::Result::Err(
                            #rt::codec::DecodeError::UnknownValue { operand, value: word },
                        ),
                    }
                }
            }
        }
    }

    fn flag_set(&self, set: &FlagSet) -> TokenStream {
        if let Some(reexport) = self.core_reexport(&set.name, set.imported.as_ref()) {
            return reexport;
        }
        let rt = self.rt;
        let ty = ident(&set.name);
        let d = doc(&set.doc);
        let n = Literal::usize_unsuffixed(set.flags.len());
        let consts = set.flags.iter().map(|f| {
            let d = doc(&f.doc);
            let c = ident(&names::shouty(&f.name));
            let bit = Literal::u32_unsuffixed(f.bit);
            quote!(#d pub const #c: Self = Self(1 << #bit);)
        });
        let named = set.flags.iter().map(|f| {
            let c = ident(&names::shouty(&f.name));
            let name = names::shouty(&f.name);
            quote!((#name, Self::#c))
        });
        let mask = hex_u64(set.mask());
        let checks = set.rules.iter().map(|r| {
            let text = r.text();
            match r {
                FlagRule::Exclusive { flags, .. } => {
                    let bits = flags.iter().map(|f| self.flag_const(set, f));
                    quote! {
                        if (self.0 & (#(#bits.0)|*)).count_ones() > 1 {
                            return ::core::option::Option::Some(#text);
                        }
                    }
                }
                FlagRule::Requires { flag, requires, .. } => {
                    let (a, b) = (self.flag_const(set, flag), self.flag_const(set, requires));
                    quote! {
                        if self.contains(#a) && !self.contains(#b) {
                            return ::core::option::Option::Some(#text);
                        }
                    }
                }
            }
        });
        let rules_doc = if set.rules.is_empty() {
            doc("The first rule of the set these flags break; this set has no rules, so always `None`.")
        } else {
            let list: String = set
                .rules
                .iter()
                .map(|r| format!("\n- {}: {}", r.text(), r.doc()))
                .collect();
            doc(&format!(
                "The first rule of the set these flags break, if any. The rules:\n{list}"
            ))
        };
        let body = if set.rules.is_empty() {
            quote!(::core::option::Option::None)
        } else {
            quote! {
                #(#checks)*
                ::core::option::Option::None
            }
        };
        let self_unused = set.rules.is_empty().then(|| quote!(let _ = self;));
        let ops = [
            (
                quote!(BitOr),
                quote!(bitor),
                quote!(BitOrAssign),
                quote!(bitor_assign),
                quote!(|),
            ),
            (
                quote!(BitAnd),
                quote!(bitand),
                quote!(BitAndAssign),
                quote!(bitand_assign),
                quote!(&),
            ),
            (
                quote!(BitXor),
                quote!(bitxor),
                quote!(BitXorAssign),
                quote!(bitxor_assign),
                quote!(^),
            ),
        ]
        .into_iter()
        .map(|(tr, m, tr_assign, m_assign, op)| {
            quote! {
                #[automatically_derived]
                impl ::core::ops::#tr for #ty {
                    type Output = Self;

                    #[inline]
                    fn #m(self, other: Self) -> Self {
                        Self(self.0 #op other.0)
                    }
                }

                #[automatically_derived]
                impl ::core::ops::#tr_assign for #ty {
                    #[inline]
                    fn #m_assign(&mut self, other: Self) {
                        self.0 = self.0 #op other.0;
                    }
                }
            }
        });
        quote! {
            #d
            #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
            #[repr(transparent)]
            pub struct #ty(u64);

            impl #ty {
                #(#consts)*

                /// Every flag with its name, in bit order of the spec.
                pub const FLAGS: [(&'static str, Self); #n] = [#(#named),*];

                /// No flag set.
                #[inline]
                pub const fn empty() -> Self {
                    Self(0)
                }

                /// Every defined flag set.
                #[inline]
                pub const fn all() -> Self {
                    Self(#mask)
                }

                /// The operand word.
                #[inline]
                pub const fn bits(self) -> u64 {
                    self.0
                }

                /// The flags in `bits`, or `None` if it has bits no flag defines.
                #[inline]
                pub const fn from_bits(bits: u64) -> ::core::option::Option<Self> {
                    if bits & !Self::all().0 == 0 {
                        ::core::option::Option::Some(Self(bits))
                    } else {
                        ::core::option::Option::None
                    }
                }

                /// The flags in `bits`, ignoring bits no flag defines.
                #[inline]
                pub const fn from_bits_truncate(bits: u64) -> Self {
                    Self(bits & Self::all().0)
                }

                /// Whether no flag is set.
                #[inline]
                pub const fn is_empty(self) -> bool {
                    self.0 == 0
                }

                /// Whether every flag of `other` is set.
                #[inline]
                pub const fn contains(self, other: Self) -> bool {
                    self.0 & other.0 == other.0
                }

                /// Whether any flag of `other` is set.
                #[inline]
                pub const fn intersects(self, other: Self) -> bool {
                    self.0 & other.0 != 0
                }

                /// The flags set in `self` or `other`.
                #[inline]
                pub const fn union(self, other: Self) -> Self {
                    Self(self.0 | other.0)
                }

                /// The flags set in both `self` and `other`.
                #[inline]
                pub const fn intersection(self, other: Self) -> Self {
                    Self(self.0 & other.0)
                }

                /// The flags of `self` not in `other`.
                #[inline]
                pub const fn difference(self, other: Self) -> Self {
                    Self(self.0 & !other.0)
                }

                #rules_doc
                pub const fn broken_rule(self) -> ::core::option::Option<&'static str> {
                    #self_unused
                    #body
                }
            }

            #(#ops)*

            #[automatically_derived]
            impl ::core::ops::Sub for #ty {
                type Output = Self;

                #[inline]
                fn sub(self, other: Self) -> Self {
                    self.difference(other)
                }
            }

            #[automatically_derived]
            impl ::core::ops::SubAssign for #ty {
                #[inline]
                fn sub_assign(&mut self, other: Self) {
                    *self = self.difference(other);
                }
            }

            #[automatically_derived]
            impl ::core::ops::Not for #ty {
                type Output = Self;

                #[inline]
                fn not(self) -> Self {
                    Self(!self.0 & Self::all().0)
                }
            }

            #[automatically_derived]
            impl ::core::fmt::Debug for #ty {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(::core::stringify!(#ty))?;
                    f.write_str("(")?;
                    let mut first = true;
                    for (name, flag) in Self::FLAGS {
                        if self.contains(flag) {
                            if !first {
                                f.write_str(" | ")?;
                            }
                            f.write_str(name)?;
                            first = false;
                        }
                    }
                    if first {
                        f.write_str("empty")?;
                    }
                    f.write_str(")")
                }
            }

            /// Unknown bits and broken rules are rejected, as for a
            /// `unknown_bits: reject` operand of a generated packet.
            #[automatically_derived]
            impl #rt::codec::OperandValue for #ty {
                #[inline]
                fn to_word(&self) -> u64 {
                    self.bits()
                }

                #[inline]
                fn from_word(
                    word: u64,
                    operand: #rt::codec::OperandRef,
                ) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    let ::core::option::Option::Some(flags) = #ty::from_bits(word) else {
                        return ::core::result::Result::Err(#rt::codec::DecodeError::UnknownFlags {
                            operand,
                            bits: word & !#ty::all().bits(),
                        });
                    };
                    if let ::core::option::Option::Some(rule) = flags.broken_rule() {
                        return ::core::result::Result::Err(#rt::codec::DecodeError::Rule {
                            operand,
                            rule,
                            value: word,
                        });
                    }
                    ::core::result::Result::Ok(flags)
                }
            }
        }
    }

    fn field_type(&self, o: &Operand) -> TokenStream {
        let rt = self.rt;
        match o.ty {
            OperandType::U64 => quote!(u64),
            OperandType::Scalar(s) => {
                let t = ident(s.name());
                quote!(::core::primitive::#t)
            }
            OperandType::Version => quote!(#rt::codec::Version),
            OperandType::Enum(i) => {
                let t = ident(&self.spec.enums[i].name);
                quote!(#t)
            }
            OperandType::Flags { set, .. } => {
                let t = ident(&self.spec.flags[set].name);
                quote!(#t)
            }
        }
    }

    /// The expression turning field `self.<name>` (or local `name`) into its word.
    fn to_word(o: &Operand, value: TokenStream) -> TokenStream {
        match o.ty {
            OperandType::U64 => value,
            OperandType::Scalar(Scalar::I64) => quote!((#value as u64)),
            OperandType::Scalar(_) => quote!(::core::primitive::u64::from(#value)),
            OperandType::Version => quote!(#value.to_wire()),
            OperandType::Enum(_) => quote!(#value.value()),
            OperandType::Flags { .. } => quote!(#value.bits()),
        }
    }

    fn operand_ref(&self, o: &Operand) -> TokenStream {
        let rt = self.rt;
        let idx = Literal::u8_unsuffixed(o.index as u8);
        let name = &o.name;
        quote!(#rt::codec::OperandRef::of::<Self>(#idx, #name))
    }

    /// `if <rule broken> { return Err(...) }` reading fields of `value`.
    fn rule_check(
        &self,
        op: &Opcode,
        o: &Operand,
        rule: &Rule,
        target: &TokenStream,
        error: &TokenStream,
    ) -> TokenStream {
        let wide = rule.lhs.len() > 1 || rule.rhs.len() > 1;
        let term = |t: &Term| -> TokenStream {
            match t {
                Term::Operand(n) => {
                    let f = ident(n);
                    if wide {
                        quote!(u128::from(#target.#f))
                    } else {
                        quote!(#target.#f)
                    }
                }
                Term::Limit(l) => {
                    let f = ident(l.field());
                    if wide {
                        quote!(u128::from(limits.#f))
                    } else {
                        quote!(limits.#f)
                    }
                }
                Term::Literal(v) => {
                    let v = Literal::u64_unsuffixed(*v);
                    quote!(#v)
                }
            }
        };
        let lhs = rule.lhs.iter().map(term);
        let rhs = rule.rhs.iter().map(term);
        // The emitted test is the negation of the rule.
        let broken = match rule.op {
            CmpOp::Lt => quote!(>=),
            CmpOp::Le => quote!(>),
            CmpOp::Eq => quote!(!=),
            CmpOp::Ne => quote!(==),
            CmpOp::Ge => quote!(<),
            CmpOp::Gt => quote!(<=),
        };
        let cond = match &rule.when {
            None => quote!(),
            Some(c) => {
                let OperandType::Flags { set, .. } = op
                    .operands
                    .iter()
                    .find(|x| x.name == c.operand)
                    .map(|x| x.ty.clone())
                    .expect("checked: a condition names a flag-set operand")
                else {
                    unreachable!("checked: a condition names a flag-set operand")
                };
                let f = ident(&c.operand);
                let flag = self.flag_const(&self.spec.flags[set], &c.flag);
                if c.negated {
                    quote!(!#target.#f.contains(#flag) &&)
                } else {
                    quote!(#target.#f.contains(#flag) &&)
                }
            }
        };
        let text = rule.full_text();
        let operand = self.operand_ref(o);
        let value = Self::to_word(o, {
            let f = ident(&o.name);
            quote!(#target.#f)
        });
        quote! {
            if #cond #(#lhs)+* #broken #(#rhs)+* {
                return ::core::result::Result::Err(#error {
                    operand: #operand,
                    rule: #text,
                    value: #value,
                });
            }
        }
    }

    fn packet(&self, op: &Opcode) -> TokenStream {
        let rt = self.rt;
        let ty = ident(&op.name);
        let code = hex_u8(op.code);
        let name = &op.name;
        let dir = op.direction.as_str();
        let d = doc(&format!(
            "{}\n\nOpcode `{:#04x}`, sent by {}.",
            op.doc,
            op.code,
            match op.direction {
                Direction::Both => "either side".to_owned(),
                _ => format!("`{dir}`"),
            }
        ));
        let fields = op.operands.iter().map(|o| {
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
            let d = doc(&text);
            let f = ident(&o.name);
            let t = self.field_type(o);
            quote!(#d pub #f: #t)
        });

        // encode: opcode word, then the seven operand words.
        let words = (0..7).map(|i| match op.operands.iter().find(|o| o.index == i) {
            Some(o) => {
                let f = ident(&o.name);
                Self::to_word(o, quote!(self.#f))
            }
            None => quote!(0),
        });

        // decode
        let bindings = (0..7).map(|i| match op.operands.iter().find(|o| o.index == i) {
            Some(o) => ident(&o.name),
            None => format_ident!("unused{}", i),
        });
        let unused = (0..7u8)
            .filter(|i| !op.operands.iter().any(|o| o.index == usize::from(*i)))
            .map(|i| {
                let w = format_ident!("unused{}", i);
                quote! {
                    if #w != 0 {
                        return ::core::result::Result::Err(DecodeError::UnusedOperand {
                            opcode: Self::OPCODE,
                            index: #i,
                            value: #w,
                        });
                    }
                }
            });
        let typed = op.operands.iter().filter_map(|o| {
            let f = ident(&o.name);
            let operand = self.operand_ref(o);
            match o.ty {
                OperandType::U64 => None,
                OperandType::Scalar(s) => {
                    let t = ident(s.name());
                    Some(quote! {
                        let #f = <::core::primitive::#t as #rt::codec::OperandValue>::from_word(
                            #f, #operand,
                        )?;
                    })
                }
                OperandType::Version => Some(quote! {
                    let ::core::option::Option::Some(#f) = #rt::codec::Version::from_wire(#f) else {
                        return ::core::result::Result::Err(DecodeError::OutOfRange {
                            operand: #operand,
                            value: #f,
                            max: 0xFFFF,
                        });
                    };
                }),
                OperandType::Enum(i) => {
                    let t = ident(&self.spec.enums[i].name);
                    Some(quote! {
                        let ::core::option::Option::Some(#f) = #t::from_value(#f) else {
                            return ::core::result::Result::Err(DecodeError::UnknownValue {
                                operand: #operand,
                                value: #f,
                            });
                        };
                    })
                }
                OperandType::Flags { set, unknown_bits } => {
                    let t = ident(&self.spec.flags[set].name);
                    let parse = match unknown_bits {
                        UnknownBits::Drop => quote!(let #f = #t::from_bits_truncate(#f);),
                        UnknownBits::Reject => quote! {
                            let ::core::option::Option::Some(#f) = #t::from_bits(#f) else {
                                return ::core::result::Result::Err(DecodeError::UnknownFlags {
                                    operand: #operand,
                                    bits: #f & !#t::all().bits(),
                                });
                            };
                        },
                    };
                    Some(quote! {
                        #parse
                        if let ::core::option::Option::Some(rule) = #f.broken_rule() {
                            return ::core::result::Result::Err(DecodeError::Rule {
                                operand: #operand,
                                rule,
                                value: #f.bits(),
                            });
                        }
                    })
                }
            }
        });
        let field_names: Vec<Ident> = op.operands.iter().map(|o| ident(&o.name)).collect();
        let packet_var = quote!(packet);
        let decode_err = quote!(DecodeError::Rule);
        let decode_rules: Vec<TokenStream> = op
            .operands
            .iter()
            .flat_map(|o| {
                o.rules
                    .iter()
                    .filter(|r| !r.needs_limits())
                    .map(move |r| (o, r))
            })
            .map(|(o, r)| self.rule_check(op, o, r, &packet_var, &decode_err))
            .collect();
        let construct = if decode_rules.is_empty() {
            quote!(::core::result::Result::Ok(Self { #(#field_names),* }))
        } else {
            quote! {
                let packet = Self { #(#field_names),* };
                #(#decode_rules)*
                ::core::result::Result::Ok(packet)
            }
        };

        let self_var = quote!(self);
        let validate_err = quote!(#rt::codec::Violation);
        let validate_rules: Vec<TokenStream> = op
            .operands
            .iter()
            .flat_map(|o| {
                o.rules
                    .iter()
                    .filter(|r| r.needs_limits())
                    .map(move |r| (o, r))
            })
            .map(|(o, r)| self.rule_check(op, o, r, &self_var, &validate_err))
            .collect();
        let limits_arg = if validate_rules.is_empty() {
            quote!(_limits)
        } else {
            quote!(limits)
        };

        quote! {
            #d
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub struct #ty {
                #(#fields,)*
            }

            #[automatically_derived]
            impl #rt::codec::PacketCodec for #ty {
                const OPCODE: u8 = #code;
                const NAME: &'static str = #name;

                #[inline]
                fn encode(&self) -> #rt::Packet {
                    #rt::Packet::from_words([Self::OPCODE as u64, #(#words),*])
                }

                #[inline]
                fn decode(packet: &#rt::Packet) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    use #rt::codec::DecodeError;
                    let [word0, #(#bindings),*] = packet.words();
                    if word0 as u8 != Self::OPCODE {
                        return ::core::result::Result::Err(DecodeError::WrongOpcode {
                            expected: Self::OPCODE,
                            found: word0 as u8,
                        });
                    }
                    if word0 >> 8 != 0 {
                        return ::core::result::Result::Err(DecodeError::ReservedBits {
                            opcode: Self::OPCODE,
                            reserved: word0 >> 8,
                        });
                    }
                    #(#unused)*
                    #(#typed)*
                    #construct
                }

                #[inline]
                fn validate(&self, #limits_arg: &#rt::codec::Limits) -> ::core::result::Result<(), #rt::codec::Violation> {
                    #(#validate_rules)*
                    ::core::result::Result::Ok(())
                }
            }

            #[automatically_derived]
            impl ::core::convert::From<#ty> for Message {
                #[inline]
                fn from(packet: #ty) -> Self {
                    Message::#ty(packet)
                }
            }
        }
    }

    fn message(&self) -> TokenStream {
        let rt = self.rt;
        let ops = &self.spec.opcodes;
        let variants = ops.iter().map(|op| {
            let v = ident(&op.name);
            let d = doc(&format!("A [`{}`] packet.", op.name));
            quote!(#d #v(#v))
        });
        let decode_arms = ops.iter().map(|op| {
            let v = ident(&op.name);
            quote!(OpCode::#v => <#v as #rt::codec::PacketCodec>::decode(packet).map(Message::#v))
        });
        let encode_arms = ops.iter().map(|op| {
            let v = ident(&op.name);
            quote!(Message::#v(p) => #rt::codec::PacketCodec::encode(p))
        });
        let validate_arms = ops.iter().map(|op| {
            let v = ident(&op.name);
            quote!(Message::#v(p) => #rt::codec::PacketCodec::validate(p, limits))
        });
        let opcode_arms = ops.iter().map(|op| {
            let v = ident(&op.name);
            quote!(Message::#v(_) => OpCode::#v)
        });
        quote! {
            /// Any packet of this protocol, decoded.
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum Message {
                #(#variants,)*
            }

            impl Message {
                /// Decodes a packet of any opcode of this protocol.
                #[inline]
                pub fn decode(packet: &#rt::Packet) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                    match OpCode::try_from(packet.opcode())? {
                        #(#decode_arms,)*
                    }
                }

                /// Encodes the packet.
                #[inline]
                pub fn encode(&self) -> #rt::Packet {
                    match self {
                        #(#encode_arms,)*
                    }
                }

                /// Checks the rules that depend on the link.
                #[inline]
                pub fn validate(&self, limits: &#rt::codec::Limits) -> ::core::result::Result<(), #rt::codec::Violation> {
                    match self {
                        #(#validate_arms,)*
                    }
                }

                /// The packet's opcode.
                pub const fn opcode(&self) -> OpCode {
                    match self {
                        #(#opcode_arms,)*
                    }
                }
            }
        }
    }

    fn handler(&self) -> TokenStream {
        let rt = self.rt;
        let ops = &self.spec.opcodes;
        let methods = ops.iter().map(|op| {
            let m = handler_method(op);
            let v = ident(&op.name);
            let d = doc(&format!(
                "Handles a [`{}`] packet and a view of its slot's payload buffer.\n\nThe default refuses it with `InvalidOp`.",
                op.name
            ));
            quote! {
                #d
                fn #m(&mut self, packet: #v, payload: #rt::PayloadView<'_>) -> ::core::result::Result<(), #rt::codec::Rejection> {
                    let _ = (packet, payload);
                    ::core::result::Result::Err(#rt::codec::Rejection::unhandled(OpCode::#v.code()))
                }
            }
        });
        let arms = ops.iter().map(|op| {
            let m = handler_method(op);
            let v = ident(&op.name);
            quote!(Message::#v(p) => handler.#m(p, payload))
        });
        quote! {
            /// Receives decoded packets from [`dispatch`], one method per opcode.
            ///
            /// Implement the methods for the packets you handle; the others
            /// refuse their packet with `InvalidOp`. `payload` is a view of the
            /// packet's slot buffer, in shared memory when it comes from a
            /// link's zero-copy receive: a peer that breaks the protocol can
            /// change the bytes while you read, so copy out what you need
            /// once (`PayloadView::copy_to_slice`, `to_vec`, `read_u64_le`).
            pub trait Handler {
                #(#methods)*
            }

            /// Decodes `packet`, validates it against `limits` and calls the
            /// [`Handler`] method of its opcode with `payload`.
            ///
            /// The error says whether the packet was invalid or refused;
            /// `DispatchError::error_code` gives the code to answer with.
            pub fn dispatch<H: Handler + ?Sized>(
                handler: &mut H,
                packet: &#rt::Packet,
                payload: #rt::PayloadView<'_>,
                limits: &#rt::codec::Limits,
            ) -> ::core::result::Result<(), #rt::codec::DispatchError> {
                let message = Message::decode(packet).map_err(#rt::codec::DispatchError::Decode)?;
                message.validate(limits).map_err(#rt::codec::DispatchError::Invalid)?;
                match message {
                    #(#arms,)*
                }
                .map_err(#rt::codec::DispatchError::Rejected)
            }
        }
    }
}
