//! Decodes packets of any spec at run time, from the model alone (no
//! generated code, no compile step), for tools such as `hqq recv --spec`.
//!
//! It runs the same checks in the same order as generated decoders
//! ([`crate::codec_steps`]), so a packet the generated code rejects is
//! rejected here with the same reason.
//!
//! ```
//! let spec = hqq_gen::Spec::parse(
//!     "protocol: { name: Demo, layer: application, version: { major: 1, minor: 0 } }\n\
//!      opcodes:\n  - { code: 0x80, name: Ping, direction: both, operands: [{ name: nonce, type: u8 }] }\n",
//!     "demo.yaml",
//! )
//! .unwrap();
//! let ping = hqq_gen::interpret::decode(&spec, [0x80, 7, 0, 0, 0, 0, 0, 0]).unwrap();
//! assert_eq!(ping.to_string(), "Ping { nonce: 7 }");
//! let err = hqq_gen::interpret::decode(&spec, [0x80, 256, 0, 0, 0, 0, 0, 0]).unwrap_err();
//! assert_eq!(err.to_string(), "Ping operand 0 `nonce`: 256 is above the maximum 255");
//! ```

use std::fmt;

use crate::codec_steps::{self, DecodeStep};
use crate::model::{
    CmpOp, EnumType, FlagSet, Opcode, Operand, Rule, Scalar, Spec, Term, UnknownBits,
};

/// A decoded packet: its opcode and one value per operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The opcode's entry in the spec.
    pub opcode: &'a Opcode,
    /// The operands' values, in operand order.
    pub values: Vec<Value<'a>>,
}

/// The value of one operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// A `u64`, `u8`, `u16` or `u32` operand.
    Unsigned(u64),
    /// An `i64` operand.
    Signed(i64),
    /// A `bool` operand.
    Bool(bool),
    /// A version operand.
    Version {
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// An enum operand: the type and the value's name.
    Enum(&'a EnumType, &'a str),
    /// A flag-set operand: the set and the (defined) bits.
    Flags(&'a FlagSet, u64),
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unsigned(v) => write!(f, "{v}"),
            Value::Signed(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Version { major, minor } => write!(f, "{major}.{minor}"),
            Value::Enum(_, name) => f.write_str(name),
            Value::Flags(set, bits) => {
                let names: Vec<&str> = set
                    .flags
                    .iter()
                    .filter(|flag| bits & (1u64 << flag.bit) != 0)
                    .map(|flag| flag.name.as_str())
                    .collect();
                if names.is_empty() {
                    f.write_str("(none)")
                } else {
                    f.write_str(&names.join(" | "))
                }
            }
        }
    }
}

impl fmt::Display for Decoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.opcode.name)?;
        if self.values.is_empty() {
            return Ok(());
        }
        f.write_str(" {")?;
        for (i, (o, v)) in self.opcode.operands.iter().zip(&self.values).enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{}: {v}", o.name)?;
        }
        f.write_str(" }")
    }
}

/// Why a packet does not decode with a spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterpretError {
    /// The spec has no opcode with this byte.
    #[error("opcode {0:#04x} is not in the spec")]
    UnknownOpcode(u8),
    /// Bytes 1..8 of word 0 are not zero.
    #[error("{packet}: reserved bytes of word 0 are {value:#x}, not zero")]
    ReservedBits {
        /// The packet's name.
        packet: String,
        /// Bytes 1..8 of word 0.
        value: u64,
    },
    /// An operand the opcode does not use is not zero.
    #[error("{packet}: unused operand {index} is {value:#x}, not zero")]
    UnusedOperand {
        /// The packet's name.
        packet: String,
        /// Operand index.
        index: usize,
        /// Its word.
        value: u64,
    },
    /// An operand's word is not a value of its type.
    #[error("{packet} operand {index} `{operand}`: {problem}")]
    Operand {
        /// The packet's name.
        packet: String,
        /// Operand index.
        index: usize,
        /// Operand name.
        operand: String,
        /// What is wrong.
        problem: String,
    },
}

/// Decodes the packet `words` (word 0 holds the opcode) with `spec`.
pub fn decode(spec: &Spec, words: [u64; 8]) -> Result<Decoded<'_>, InterpretError> {
    let code = words[0] as u8;
    let opcode = spec
        .opcodes
        .iter()
        .find(|op| op.code == code)
        .ok_or(InterpretError::UnknownOpcode(code))?;
    if words[0] >> 8 != 0 {
        return Err(InterpretError::ReservedBits {
            packet: opcode.name.clone(),
            value: words[0] >> 8,
        });
    }
    let word = |o: &Operand| words[o.index + 1];
    let fail = |o: &Operand, problem: String| InterpretError::Operand {
        packet: opcode.name.clone(),
        index: o.index,
        operand: o.name.clone(),
        problem,
    };
    let mut values = Vec::with_capacity(opcode.operands.len());
    for step in codec_steps::decode_steps(spec, opcode) {
        let value = match step {
            DecodeStep::Unused(index) if words[index + 1] != 0 => {
                return Err(InterpretError::UnusedOperand {
                    packet: opcode.name.clone(),
                    index,
                    value: words[index + 1],
                })
            }
            DecodeStep::Unused(_) => continue,
            DecodeStep::Plain(o) => Value::Unsigned(word(o)),
            DecodeStep::Scalar(o, s) => scalar(s, word(o)).map_err(|p| fail(o, p))?,
            DecodeStep::Version(o) => match u16::try_from(word(o)) {
                Ok(v) => Value::Version {
                    major: (v >> 8) as u8,
                    minor: v as u8,
                },
                Err(_) => return Err(fail(o, above(word(o), 0xFFFF))),
            },
            DecodeStep::Enum(o, e) => match e.values.iter().find(|v| v.value == word(o)) {
                Some(v) => Value::Enum(e, &v.name),
                None => {
                    return Err(fail(
                        o,
                        format!("{:#x} is not a value of {}", word(o), e.name),
                    ))
                }
            },
            DecodeStep::Flags(o, set, unknown) => {
                let bits = flags(set, unknown, word(o)).map_err(|p| fail(o, p))?;
                Value::Flags(set, bits)
            }
            DecodeStep::Rule(o, rule) => {
                if !holds(spec, opcode, rule, &words) {
                    return Err(fail(
                        o,
                        format!("{} breaks `{}`", word(o), rule.full_text()),
                    ));
                }
                continue;
            }
        };
        values.push(value);
    }
    Ok(Decoded { opcode, values })
}

fn above(value: u64, max: u64) -> String {
    format!("{value} is above the maximum {max}")
}

fn scalar(s: Scalar, word: u64) -> Result<Value<'static>, String> {
    match (s, s.max()) {
        (_, Some(max)) if word > max => Err(above(word, max)),
        (Scalar::Bool, _) => Ok(Value::Bool(word == 1)),
        (Scalar::I64, _) => Ok(Value::Signed(word as i64)),
        _ => Ok(Value::Unsigned(word)),
    }
}

fn flags(set: &FlagSet, unknown: UnknownBits, word: u64) -> Result<u64, String> {
    let undefined = word & !set.mask();
    if undefined != 0 && unknown == UnknownBits::Reject {
        return Err(format!("bits {undefined:#x} are not flags of {}", set.name));
    }
    let bits = word & set.mask();
    let has = |name: &str| {
        set.flags
            .iter()
            .any(|f| f.name == name && bits & (1u64 << f.bit) != 0)
    };
    for rule in &set.rules {
        let broken = match rule {
            crate::model::FlagRule::Exclusive { flags, .. } => {
                flags.iter().filter(|f| has(f)).count() > 1
            }
            crate::model::FlagRule::Requires { flag, requires, .. } => has(flag) && !has(requires),
        };
        if broken {
            return Err(format!("{bits:#x} breaks `{}`", rule.text()));
        }
    }
    Ok(bits)
}

/// Whether a decode rule holds for the packet `words`.
fn holds(spec: &Spec, opcode: &Opcode, rule: &Rule, words: &[u64; 8]) -> bool {
    let operand = |name: &str| {
        opcode
            .operands
            .iter()
            .find(|o| o.name == name)
            .map_or(0, |o| words[o.index + 1])
    };
    if let Some(c) = &rule.when {
        let set = operand(&c.operand) & codec_steps::condition_mask(spec, opcode, c) != 0;
        if set == c.negated {
            return true;
        }
    }
    // Decode rules name no limits; sums in 128 bits cannot overflow.
    let sum = |terms: &[Term]| -> u128 {
        terms
            .iter()
            .map(|t| match t {
                Term::Operand(name) => u128::from(operand(name)),
                Term::Literal(v) => u128::from(*v),
                Term::Limit(_) => 0,
            })
            .sum()
    };
    let (l, r) = (sum(&rule.lhs), sum(&rule.rhs));
    match rule.op {
        CmpOp::Lt => l < r,
        CmpOp::Le => l <= r,
        CmpOp::Eq => l == r,
        CmpOp::Ne => l != r,
        CmpOp::Ge => l >= r,
        CmpOp::Gt => l > r,
    }
}
