//! The spec's constants and value types: `PROTOCOL_*`, `OpCode`, enums and
//! flag sets.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{doc, hex_u64, hex_u8, ident, lint_allows};
use crate::model::{Direction, EnumType, FlagRule, FlagSet, Imported, Layer, Spec};
use crate::names;

/// `PROTOCOL_NAME`, `PROTOCOL_VERSION` and the opcode ranges.
pub(super) fn constants(spec: &Spec, rt: &syn::Path) -> TokenStream {
    let name = &spec.protocol.name;
    let major = Literal::u8_unsuffixed(spec.protocol.version.major);
    let minor = Literal::u8_unsuffixed(spec.protocol.version.minor);
    let core = spec.ranges.core.iter().map(|r| {
        let (a, b) = (hex_u8(*r.start()), hex_u8(*r.end()));
        quote!(#a..=#b)
    });
    let n_core = Literal::usize_unsuffixed(spec.ranges.core.len());
    let (app_a, app_b) = (
        hex_u8(*spec.ranges.application.start()),
        hex_u8(*spec.ranges.application.end()),
    );
    let version_doc = doc(&format!(
        "The protocol version this spec describes.\n\n{}",
        spec.protocol.compatibility
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

/// `enum OpCode` with `ALL`, `code`, `name`, `direction`, `from_code`,
/// `TryFrom<u8>` and `Display`.
pub(super) fn opcode_enum(spec: &Spec, rt: &syn::Path) -> TokenStream {
    let ops = &spec.opcodes;
    let n = Literal::usize_unsuffixed(ops.len());
    let variants = ops.iter().map(|op| {
        let (d, v, code) = (doc(&op.doc), ident(&op.name), hex_u8(op.code));
        quote!(#d #v = #code)
    });
    let all = ops.iter().map(|op| ident(&op.name));
    let names_arms = ops.iter().map(|op| {
        let (v, name) = (ident(&op.name), &op.name);
        quote!(OpCode::#v => #name)
    });
    let dir_arms = ops.iter().map(|op| {
        let v = ident(&op.name);
        let d = ident(match op.direction {
            Direction::PrimaryToSecondary => "PrimaryToSecondary",
            Direction::SecondaryToPrimary => "SecondaryToPrimary",
            Direction::Both => "Both",
        });
        quote!(OpCode::#v => #rt::codec::Direction::#d)
    });
    let from_arms = ops.iter().map(|op| {
        let (v, code) = (ident(&op.name), hex_u8(op.code));
        quote!(#code => ::core::option::Option::Some(OpCode::#v))
    });
    let allow = lint_allows();
    let conversions = opcode_conversions(rt);
    quote! {
        /// The opcodes of this protocol.
        #allow
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum OpCode {
            #(#variants,)*
        }

        #allow
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
                match self { #(#names_arms,)* }
            }

            /// Who sends packets of this opcode.
            pub const fn direction(self) -> #rt::codec::Direction {
                match self { #(#dir_arms,)* }
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

        #conversions
    }
}

/// `TryFrom<u8>` and `Display` for `OpCode`.
fn opcode_conversions(rt: &syn::Path) -> TokenStream {
    let allow = lint_allows();
    quote! {
        #allow
        #[automatically_derived]
        impl ::core::convert::TryFrom<u8> for OpCode {
            type Error = #rt::codec::DecodeError;

            #[inline]
            fn try_from(code: u8) -> ::core::result::Result<Self, #rt::codec::DecodeError> {
                OpCode::from_code(code).ok_or(#rt::codec::DecodeError::UnknownOpcode(code))
            }
        }

        #allow
        #[automatically_derived]
        impl ::core::fmt::Display for OpCode {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.name())
            }
        }
    }
}

/// Whether a type imported from `imported` is re-exported from the
/// runtime rather than generated: types of the core spec.
pub(crate) fn is_reexported(imported: Option<&Imported>) -> bool {
    imported.is_some_and(|i| i.layer == Layer::Core)
}

/// A type imported from the core spec is the runtime's own (one
/// `ErrorCode` for every protocol), re-exported instead of copied.
fn core_reexport(name: &str, imported: Option<&Imported>, rt: &syn::Path) -> Option<TokenStream> {
    let ty = ident(name);
    let from = imported.filter(|_| is_reexported(imported))?;
    let d = doc(&format!(
        "Imported from `{}` ({}).",
        from.file, from.protocol
    ));
    Some(quote! {
        #d
        pub use #rt::protocol::#ty;
    })
}

/// An enum type with `ALL`, `value`, `from_value`, `name`, `description`,
/// `Display`, `OperandValue` and, for error enums, `std::error::Error`.
pub(super) fn enum_type(t: &EnumType, rt: &syn::Path) -> TokenStream {
    if let Some(reexport) = core_reexport(&t.name, t.imported.as_ref(), rt) {
        return reexport;
    }
    let ty = ident(&t.name);
    let d = doc(&t.doc);
    let variants = t.values.iter().map(|v| {
        let (d, name, value) = (doc(&v.doc), ident(&v.name), hex_u64(v.value));
        quote!(#d #name = #value)
    });
    let inherent = enum_inherent(t);
    let allow = lint_allows();
    let error_impl = t.error.then(|| {
        quote! {
            #allow
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
        #allow
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u64)]
        pub enum #ty {
            #(#variants,)*
        }

        #inherent

        #allow
        #[automatically_derived]
        impl ::core::fmt::Display for #ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #display
            }
        }

        #error_impl

        #allow
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
                #ty::from_value(word).ok_or(#rt::codec::DecodeError::UnknownValue { operand, value: word })
            }
        }
    }
}

/// `impl Enum { ALL, value, from_value, name, description }`.
fn enum_inherent(t: &EnumType) -> TokenStream {
    let ty = ident(&t.name);
    let n = Literal::usize_unsuffixed(t.values.len());
    let all = t.values.iter().map(|v| ident(&v.name));
    let arms = |text: &dyn Fn(&crate::model::EnumValue) -> String| -> Vec<TokenStream> {
        t.values
            .iter()
            .map(|v| {
                let (name, s) = (ident(&v.name), text(v));
                quote!(#ty::#name => #s)
            })
            .collect()
    };
    let name_arms = arms(&|v| v.name.clone());
    let desc_arms = arms(&|v| v.doc.trim_end_matches('.').to_owned());
    let from_arms = t.values.iter().map(|v| {
        let (name, value) = (ident(&v.name), hex_u64(v.value));
        quote!(#value => ::core::option::Option::Some(#ty::#name))
    });
    let allow = lint_allows();
    quote! {
        #allow
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
                match self { #(#name_arms,)* }
            }

            /// The variant's description in the spec.
            pub const fn description(self) -> &'static str {
                match self { #(#desc_arms,)* }
            }
        }
    }
}

/// A flag set: one invocation of the runtime's `flag_set!`.
pub(super) fn flag_set(set: &FlagSet, rt: &syn::Path) -> TokenStream {
    if let Some(reexport) = core_reexport(&set.name, set.imported.as_ref(), rt) {
        return reexport;
    }
    flag_set_source(set, rt)
        .parse()
        .expect("a flag_set! invocation is valid tokens")
}

/// The `flag_set!` invocation of `set` as formatted source: prettyplease
/// leaves macro bodies on one line, so [`crate::generate_rust`] puts this
/// text in their place (and [`flag_set`] parses it, so both agree).
pub(crate) fn flag_set_source(set: &FlagSet, rt: &syn::Path) -> String {
    let mut out = format!("{}::flag_set! {{\n", path_text(rt));
    doc_lines(&mut out, "    ", &set.doc);
    out.push_str(&format!("    pub struct {} {{\n", set.name));
    for f in &set.flags {
        doc_lines(&mut out, "        ", &f.doc);
        out.push_str(&format!(
            "        const {} = {};\n",
            names::shouty(&f.name),
            f.bit
        ));
    }
    out.push_str("    }\n");
    let rules_doc = if set.rules.is_empty() {
        "The first rule of the set these flags break; this set has no rules, so always `None`."
            .to_owned()
    } else {
        let list: String = set
            .rules
            .iter()
            .map(|r| match r.doc() {
                "" => format!("\n- {}.", r.text()),
                doc => format!("\n- {}: {doc}", r.text()),
            })
            .collect();
        format!("The first rule of the set these flags break, if any. The rules:\n{list}")
    };
    doc_lines(&mut out, "    ", &rules_doc);
    out.push_str("    rules {\n");
    for r in &set.rules {
        let (kind, flags) = match r {
            FlagRule::Exclusive { flags, .. } => ("exclusive", flags.clone()),
            FlagRule::Requires { flag, requires, .. } => {
                ("requires", vec![flag.clone(), requires.clone()])
            }
        };
        let flags: Vec<String> = flags.iter().map(|f| names::shouty(f)).collect();
        out.push_str(&format!(
            "        {kind}({}) => {:?};\n",
            flags.join(", "),
            r.text()
        ));
    }
    out.push_str("    }\n}\n");
    out
}

/// `///` lines of `text` at `indent`.
fn doc_lines(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        if line.is_empty() {
            out.push_str(&format!("{indent}///\n"));
        } else {
            out.push_str(&format!("{indent}/// {line}\n"));
        }
    }
}

/// `::hqq::runtime`, without the spaces `to_string` puts between tokens.
fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let lead = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{lead}{}", segments.join("::"))
}
