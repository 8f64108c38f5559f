//! The steps of a packet decode that generated and derived codecs call,
//! as prost's generated code calls `prost::encoding`.
//!
//! hqq-gen's output and `#[derive(Packet)]` expand to calls of these
//! functions instead of writing the checks out per packet, so every codec
//! rejects bad input in the same order with the same error: the opcode
//! byte, the reserved bytes of word 0, unused operands (by index), then each
//! operand's type (by index), then the spec's rules.
//!
//! They are public because generated code lives in other crates; use the
//! [`PacketCodec`] methods in hand-written code. Their signatures are only
//! promised to match the hqq-gen and hqq-derive of the same release.

use crate::codec::{DecodeError, OperandRef, PacketCodec};
use crate::flag_set::FlagSet;
use crate::packet::Packet;

/// The operand words of `packet` (operand `i` is word `i + 1`) after the
/// checks every decoder of `P` makes first: the opcode byte is `P::OPCODE`,
/// the reserved bytes of word 0 are zero, and every operand whose bit is
/// clear in `used` is zero.
///
/// ```
/// use hqq_runtime::codec::{DecodeError, PacketCodec};
/// use hqq_runtime::encoding::operand_words;
/// use hqq_runtime::protocol::StandardLinkCopy;
/// use hqq_runtime::Packet;
///
/// let packet = StandardLinkCopy { copy: 1, buffer_index: 0, size: 5 }.encode();
/// assert_eq!(operand_words::<StandardLinkCopy>(&packet, 0b111), Ok([1, 0, 5, 0, 0, 0, 0]));
/// assert_eq!(
///     operand_words::<StandardLinkCopy>(&packet, 0b011),
///     Err(DecodeError::UnusedOperand { opcode: 0xFF, index: 2, value: 5 })
/// );
/// ```
#[inline]
pub fn operand_words<P: PacketCodec>(packet: &Packet, used: u8) -> Result<[u64; 7], DecodeError> {
    let [word0, operands @ ..] = packet.words();
    let opcode = word0 as u8;
    if opcode != P::OPCODE {
        return Err(DecodeError::WrongOpcode {
            expected: P::OPCODE,
            found: opcode,
        });
    }
    if word0 >> 8 != 0 {
        return Err(DecodeError::ReservedBits {
            opcode,
            reserved: word0 >> 8,
        });
    }
    for (index, &value) in (0u8..).zip(&operands) {
        if used & (1 << index) == 0 && value != 0 {
            return Err(DecodeError::UnusedOperand {
                opcode,
                index,
                value,
            });
        }
    }
    Ok(operands)
}

/// The flag set `T` in `word`, with the bits `T` does not define cleared
/// (a spec's `unknown_bits: drop`); the flags left must still keep `T`'s
/// rules.
///
/// ```
/// use hqq_runtime::codec::{OperandRef, PacketCodec};
/// use hqq_runtime::encoding::flags_dropping_unknown_bits;
/// use hqq_runtime::protocol::{Features, ProtoNegotiate};
///
/// let operand = OperandRef::of::<ProtoNegotiate>(1, "features");
/// let features = flags_dropping_unknown_bits::<Features>(1 << 63 | Features::all().bits(), operand);
/// assert_eq!(features, Ok(Features::all()));
/// ```
#[inline]
pub fn flags_dropping_unknown_bits<T: FlagSet>(
    word: u64,
    operand: OperandRef,
) -> Result<T, DecodeError> {
    let flags = T::from_bits_truncate(word);
    match flags.broken_rule() {
        None => Ok(flags),
        Some(rule) => Err(DecodeError::Rule {
            operand,
            rule,
            value: flags.bits(),
        }),
    }
}
