//! The 64-byte packet every ring slot carries.
//!
//! Wire format (wire-compat.md, "Packet"): eight little-endian `u64` words.
//! Word 0 holds the opcode in its low byte; its other seven bytes are
//! reserved and written as zero. Words 1..=7 are operands 0..=6.

/// Number of operands a packet carries.
pub const OPERAND_COUNT: usize = 7;

/// Size of a packet on the wire and in a ring slot, in bytes.
pub const PACKET_SIZE: usize = 64;

/// One HQQ packet: an opcode and seven operands, 64 bytes.
///
/// `Packet` is `#[repr(C)]` over eight `u64` words so that it has exactly the
/// wire layout on little-endian targets, and copying one in or out of a ring
/// slot is eight word moves.
///
/// ```
/// use hqq_runtime::Packet;
///
/// let p = Packet::new(0xFF, [1, 0, 5, 0, 0, 0, 0]);
/// assert_eq!(p.opcode(), 0xFF);
/// assert_eq!(p.operand(2), 5);
/// assert_eq!(p.to_bytes()[0], 0xFF);
/// ```
#[repr(C, align(8))]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Packet {
    words: [u64; 8],
}

const _: () = assert!(core::mem::size_of::<Packet>() == PACKET_SIZE);
const _: () = assert!(core::mem::align_of::<Packet>() == 8);

impl Packet {
    /// A packet with `opcode` in word 0 (reserved bytes zero) and the given operands.
    #[inline]
    pub const fn new(opcode: u8, operands: [u64; OPERAND_COUNT]) -> Self {
        let [a, b, c, d, e, f, g] = operands;
        Packet {
            words: [opcode as u64, a, b, c, d, e, f, g],
        }
    }

    /// A packet made of eight raw words, exactly as they sit in a slot.
    ///
    /// Word 0 is kept whole, reserved bytes included, so a decoder can
    /// reject a peer that set them.
    #[inline]
    pub const fn from_words(words: [u64; 8]) -> Self {
        Packet { words }
    }

    /// The eight raw words.
    #[inline]
    pub const fn words(&self) -> [u64; 8] {
        self.words
    }

    /// The opcode: the low byte of word 0.
    #[inline]
    pub const fn opcode(&self) -> u8 {
        self.words[0] as u8
    }

    /// The seven reserved bytes of word 0 (bits 8..64), which must be zero.
    #[inline]
    pub const fn reserved(&self) -> u64 {
        self.words[0] >> 8
    }

    /// Operand `i` (0..=6).
    ///
    /// # Panics
    ///
    /// If `i > 6`; operand indices are compile-time constants in generated code.
    #[inline]
    pub const fn operand(&self, i: usize) -> u64 {
        assert!(i < OPERAND_COUNT, "operand index out of range (0..=6)");
        self.words[i + 1]
    }

    /// Sets operand `i` (0..=6).
    ///
    /// # Panics
    ///
    /// If `i > 6`.
    #[inline]
    pub fn set_operand(&mut self, i: usize, value: u64) {
        assert!(i < OPERAND_COUNT, "operand index out of range (0..=6)");
        self.words[i + 1] = value;
    }

    /// All seven operands.
    #[inline]
    pub const fn operands(&self) -> [u64; OPERAND_COUNT] {
        let [_, a, b, c, d, e, f, g] = self.words;
        [a, b, c, d, e, f, g]
    }

    /// The 64 wire bytes.
    pub fn to_bytes(&self) -> [u8; PACKET_SIZE] {
        let mut out = [0u8; PACKET_SIZE];
        for (chunk, word) in out.chunks_exact_mut(8).zip(self.words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// A packet read from 64 wire bytes.
    pub fn from_bytes(bytes: &[u8; PACKET_SIZE]) -> Self {
        let mut words = [0u64; 8];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            *word = u64::from_le_bytes(w);
        }
        Packet { words }
    }
}

impl core::fmt::Debug for Packet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Packet")
            .field("opcode", &format_args!("{:#04x}", self.opcode()))
            .field("reserved", &format_args!("{:#x}", self.reserved()))
            .field("operands", &self.operands())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_layout() {
        let p = Packet::new(0x04, [1, 2, 3, 4, 5, 6, 7]);
        let b = p.to_bytes();
        assert_eq!(b[0], 4);
        assert_eq!(&b[1..8], &[0; 7]);
        assert_eq!(b[8], 1);
        assert_eq!(b[56], 7);
        assert_eq!(Packet::from_bytes(&b), p);
    }

    #[test]
    fn reserved_bytes_are_visible() {
        let p = Packet::from_words([0x1_00 | 0x05, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(p.opcode(), 5);
        assert_eq!(p.reserved(), 1);
    }
}
