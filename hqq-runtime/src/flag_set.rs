//! Flag-set operand types: a `u64` of named bits with rules on their
//! combination, as the spec's `flags:` entries describe them.
//!
//! hqq-gen writes each flag set as one [`flag_set!`](crate::flag_set!)
//! invocation; the macro defines the type, its bit operations, `Debug`,
//! [`OperandValue`] (unknown bits and broken
//! rules rejected) and [`FlagSet`].
//!
//! ```
//! hqq_runtime::flag_set! {
//!     /// What a sample carries.
//!     pub struct SampleFlags {
//!         /// The first sample of a series.
//!         const FIRST = 0;
//!         /// The last sample of a series.
//!         const LAST = 1;
//!         /// Calibrated against a reference.
//!         const CALIBRATED = 4;
//!     }
//!     /// The first rule these flags break, if any.
//!     rules {
//!         requires(CALIBRATED, FIRST) => "CALIBRATED requires FIRST";
//!     }
//! }
//!
//! let both = SampleFlags::FIRST | SampleFlags::CALIBRATED;
//! assert_eq!(both.bits(), 0b1_0001);
//! assert_eq!(format!("{both:?}"), "SampleFlags(FIRST | CALIBRATED)");
//! assert_eq!(SampleFlags::from_bits(0b100), None);
//! assert_eq!(SampleFlags::CALIBRATED.broken_rule(), Some("CALIBRATED requires FIRST"));
//! ```

use crate::codec::OperandValue;

/// A flag-set operand type, as [`flag_set!`](crate::flag_set!) defines it.
///
/// Generated decoders use it for operands whose spec says
/// `unknown_bits: drop` ([`crate::encoding::flags_dropping_unknown_bits`]).
pub trait FlagSet: OperandValue + Copy {
    /// The flags in `bits`, ignoring bits no flag defines.
    fn from_bits_truncate(bits: u64) -> Self;
    /// The operand word.
    fn bits(self) -> u64;
    /// The first rule of the set these flags break, if any.
    fn broken_rule(self) -> Option<&'static str>;
}

/// A rule on the combination of flags in one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlagRule {
    /// The flags the rule is about, as bits.
    flags: u64,
    /// For a `requires` rule: the flags `flags` needs.
    requires: u64,
    /// The rule as written, e.g. `BEGIN and END are exclusive`.
    text: &'static str,
}

impl FlagRule {
    /// At most one of `flags` (each one flag's bits) is set.
    pub const fn exclusive(flags: &[u64], text: &'static str) -> Self {
        let mut mask = 0;
        let mut i = 0;
        while i < flags.len() {
            mask |= flags[i];
            i += 1;
        }
        FlagRule {
            flags: mask,
            requires: 0,
            text,
        }
    }

    /// `flags[0]` is set only together with `flags[1]`.
    pub const fn requires(flags: &[u64], text: &'static str) -> Self {
        assert!(flags.len() == 2, "a `requires` rule names two flags");
        FlagRule {
            flags: flags[0],
            requires: flags[1],
            text,
        }
    }

    /// Whether `bits` breaks the rule.
    pub const fn is_broken_by(&self, bits: u64) -> bool {
        if self.requires == 0 {
            (bits & self.flags).count_ones() > 1
        } else {
            bits & self.flags != 0 && bits & self.requires != self.requires
        }
    }

    /// The rule as written in the spec.
    pub const fn text(&self) -> &'static str {
        self.text
    }
}

/// The text of the first of `rules` that `bits` breaks, if any.
pub const fn first_broken_rule(bits: u64, rules: &[FlagRule]) -> Option<&'static str> {
    let mut i = 0;
    while i < rules.len() {
        if rules[i].is_broken_by(bits) {
            return Some(rules[i].text);
        }
        i += 1;
    }
    None
}

/// Defines a flag-set operand type: a `u64` newtype with one associated
/// constant per flag, the set operations, `Debug`, `OperandValue` and
/// [`FlagSet`](crate::flag_set::FlagSet). See [the module](mod@crate::flag_set).
///
/// `rules` lists the forbidden combinations, checked in order by
/// `broken_rule` and on decode: `exclusive(A, B, ...)` (at most one of them
/// set) and `requires(A, B)` (`A` only together with `B`).
#[macro_export]
macro_rules! flag_set {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$flag_meta:meta])* const $flag:ident = $bit:literal; )*
        }
        $(#[$rules_meta:meta])*
        rules { $( $kind:ident($($rule_flag:ident),+) => $text:literal; )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        $vis struct $name(u64);

        #[allow(clippy::allow_attributes, clippy::must_use_candidate, clippy::return_self_not_must_use)]
        impl $name {
            $( $(#[$flag_meta])* pub const $flag: Self = Self(1 << $bit); )*

            /// Every flag with its name, in the spec's order.
            pub const FLAGS: [(&'static str, Self); <[&str]>::len(&[$(::core::stringify!($flag)),*])] =
                [$((::core::stringify!($flag), Self::$flag)),*];

            const RULES: &'static [$crate::flag_set::FlagRule] = &[
                $( $crate::flag_set::FlagRule::$kind(&[$(Self::$rule_flag.0),+], $text) ),*
            ];

            /// No flag set.
            #[inline]
            pub const fn empty() -> Self {
                Self(0)
            }

            /// Every defined flag set.
            #[inline]
            pub const fn all() -> Self {
                Self(0 $(| Self::$flag.0)*)
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

            $(#[$rules_meta])*
            #[inline]
            pub const fn broken_rule(self) -> ::core::option::Option<&'static str> {
                $crate::flag_set::first_broken_rule(self.0, Self::RULES)
            }
        }

        $crate::__flag_set_operator!($name, BitOr, bitor, BitOrAssign, bitor_assign, |);
        $crate::__flag_set_operator!($name, BitAnd, bitand, BitAndAssign, bitand_assign, &);
        $crate::__flag_set_operator!($name, BitXor, bitxor, BitXorAssign, bitxor_assign, ^);

        #[automatically_derived]
        impl ::core::ops::Sub for $name {
            type Output = Self;

            #[inline]
            fn sub(self, other: Self) -> Self {
                self.difference(other)
            }
        }

        #[automatically_derived]
        impl ::core::ops::SubAssign for $name {
            #[inline]
            fn sub_assign(&mut self, other: Self) {
                *self = self.difference(other);
            }
        }

        #[automatically_derived]
        impl ::core::ops::Not for $name {
            type Output = Self;

            #[inline]
            fn not(self) -> Self {
                Self(!self.0 & Self::all().0)
            }
        }

        #[automatically_derived]
        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                $crate::flag_set::write_flags(f, ::core::stringify!($name), self.0, &Self::FLAGS.map(|(n, v)| (n, v.0)))
            }
        }

        /// Unknown bits and broken rules are rejected, as for a
        /// `unknown_bits: reject` operand of a generated packet.
        #[automatically_derived]
        impl $crate::codec::OperandValue for $name {
            #[inline]
            fn to_word(&self) -> u64 {
                self.0
            }

            #[inline]
            fn from_word(
                word: u64,
                operand: $crate::codec::OperandRef,
            ) -> ::core::result::Result<Self, $crate::codec::DecodeError> {
                $crate::flag_set::decode_flags(word, Self::all().0, Self::RULES, operand).map(Self)
            }
        }

        #[automatically_derived]
        impl $crate::flag_set::FlagSet for $name {
            #[inline]
            fn from_bits_truncate(bits: u64) -> Self {
                $name::from_bits_truncate(bits)
            }

            #[inline]
            fn bits(self) -> u64 {
                self.0
            }

            #[inline]
            fn broken_rule(self) -> ::core::option::Option<&'static str> {
                $name::broken_rule(self)
            }
        }
    };
}

/// One bit operator and its assigning form, for [`flag_set!`](crate::flag_set!).
#[doc(hidden)]
#[macro_export]
macro_rules! __flag_set_operator {
    ($name:ident, $op:ident, $method:ident, $op_assign:ident, $method_assign:ident, $sym:tt) => {
        #[automatically_derived]
        impl ::core::ops::$op for $name {
            type Output = Self;

            #[inline]
            fn $method(self, other: Self) -> Self {
                Self(self.0 $sym other.0)
            }
        }

        #[automatically_derived]
        impl ::core::ops::$op_assign for $name {
            #[inline]
            fn $method_assign(&mut self, other: Self) {
                self.0 = self.0 $sym other.0;
            }
        }
    };
}

/// `Name(A | B)`, or `Name(empty)`: the `Debug` form of a flag set.
#[doc(hidden)]
pub fn write_flags(
    f: &mut core::fmt::Formatter<'_>,
    name: &str,
    bits: u64,
    flags: &[(&str, u64)],
) -> core::fmt::Result {
    f.write_str(name)?;
    f.write_str("(")?;
    let mut first = true;
    for (flag, bit) in flags {
        if bits & bit == *bit {
            if !first {
                f.write_str(" | ")?;
            }
            f.write_str(flag)?;
            first = false;
        }
    }
    if first {
        f.write_str("empty")?;
    }
    f.write_str(")")
}

/// Decodes a flag-set word: bits outside `defined` give
/// `DecodeError::UnknownFlags`, a broken rule `DecodeError::Rule`.
#[doc(hidden)]
#[inline]
pub fn decode_flags(
    word: u64,
    defined: u64,
    rules: &[FlagRule],
    operand: crate::codec::OperandRef,
) -> Result<u64, crate::codec::DecodeError> {
    if word & !defined != 0 {
        return Err(crate::codec::DecodeError::UnknownFlags {
            operand,
            bits: word & !defined,
        });
    }
    match first_broken_rule(word, rules) {
        None => Ok(word),
        Some(rule) => Err(crate::codec::DecodeError::Rule {
            operand,
            rule,
            value: word,
        }),
    }
}
