//! The checks of a packet's decode and validate, in the order every backend
//! runs them, as data: the C and Go emitters render them and the run-time
//! interpreter ([`crate::interpret`]) executes them, so the three agree with
//! each other and with the generated Rust on which error a bad packet gets.
//!
//! Decode checks the opcode byte, then the reserved bytes of word 0, then
//! that unused operands are zero (in index order), then each operand's type
//! (in operand order), then the rules that need no link limits (in operand
//! order). Validate checks the rules that do need limits.

use crate::model::{
    Condition, EnumType, FlagSet, Opcode, Operand, OperandType, Rule, Scalar, Spec, Term,
    UnknownBits,
};

/// One check of a decode, after the opcode and reserved-byte checks.
#[derive(Debug, Clone, Copy)]
pub enum DecodeStep<'a> {
    /// Operand `index` is unused and must be zero.
    Unused(usize),
    /// A plain `u64` operand: nothing to check.
    Plain(&'a Operand),
    /// A scalar operand: at most the type's maximum.
    Scalar(&'a Operand, Scalar),
    /// A version operand: at most `0xFFFF`.
    Version(&'a Operand),
    /// An enum operand: one of the enum's values.
    Enum(&'a Operand, &'a EnumType),
    /// A flag-set operand: undefined bits rejected or dropped, then the
    /// set's own rules.
    Flags(&'a Operand, &'a FlagSet, UnknownBits),
    /// A rule on the operand that needs no limits.
    Rule(&'a Operand, &'a Rule),
}

/// The checks of `opcode`'s decode, in order.
pub fn decode_steps<'a>(spec: &'a Spec, opcode: &'a Opcode) -> Vec<DecodeStep<'a>> {
    let used = opcode.operands.len();
    let mut steps: Vec<DecodeStep<'a>> = (used..7).map(DecodeStep::Unused).collect();
    steps.extend(opcode.operands.iter().map(|o| match o.ty {
        OperandType::U64 => DecodeStep::Plain(o),
        OperandType::Scalar(s) => DecodeStep::Scalar(o, s),
        OperandType::Version => DecodeStep::Version(o),
        OperandType::Enum(i) => DecodeStep::Enum(o, &spec.enums[i]),
        OperandType::Flags { set, unknown_bits } => {
            DecodeStep::Flags(o, &spec.flags[set], unknown_bits)
        }
    }));
    steps.extend(rules(opcode, false).map(|(o, r)| DecodeStep::Rule(o, r)));
    steps
}

/// The rules `validate` checks (those that mention a limit), in order.
pub fn validate_rules(opcode: &Opcode) -> Vec<(&Operand, &Rule)> {
    rules(opcode, true).collect()
}

fn rules(opcode: &Opcode, with_limits: bool) -> impl Iterator<Item = (&Operand, &Rule)> {
    opcode.operands.iter().flat_map(move |o| {
        o.rules
            .iter()
            .filter(move |r| r.needs_limits() == with_limits)
            .map(move |r| (o, r))
    })
}

/// The bit mask of a rule's condition: the flag it tests, looked up in the
/// flag set of the operand it names.
pub fn condition_mask(spec: &Spec, opcode: &Opcode, condition: &Condition) -> u64 {
    opcode
        .operands
        .iter()
        .find(|o| o.name == condition.operand)
        .and_then(|o| match o.ty {
            OperandType::Flags { set, .. } => spec.flags[set]
                .flags
                .iter()
                .find(|f| f.name == condition.flag),
            _ => None,
        })
        .map_or(0, |f| 1u64 << f.bit)
}

/// The expression, in a backend's syntax, that is true when `rule` holds
/// (its `when` condition aside). Two single terms are compared directly;
/// otherwise both sums are built in 128 bits (`wide_of` the first term,
/// `wide_add` each further one) and compared with `wide_cmp`, which gives
/// -1, 0 or 1, so a sum never overflows.
pub fn holds_expr(
    rule: &Rule,
    term: &dyn Fn(&Term) -> String,
    wide_of: &dyn Fn(&str) -> String,
    wide_add: &dyn Fn(&str, &str) -> String,
    wide_cmp: &dyn Fn(&str, &str) -> String,
) -> String {
    let cmp = rule.op.as_str();
    if let ([l], [r]) = (rule.lhs.as_slice(), rule.rhs.as_slice()) {
        return format!("{} {cmp} {}", term(l), term(r));
    }
    let wide = |sum: &[Term]| match sum.split_first() {
        Some((first, rest)) => rest
            .iter()
            .fold(wide_of(&term(first)), |acc, t| wide_add(&acc, &term(t))),
        None => wide_of("0"),
    };
    format!("{} {cmp} 0", wide_cmp(&wide(&rule.lhs), &wide(&rule.rhs)))
}
