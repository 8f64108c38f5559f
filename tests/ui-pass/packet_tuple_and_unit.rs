//! Tuple structs (operands by position) and unit structs (no operands).
use hqq::{Packet, PacketCodec};

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0xEF)]
struct Pair(u64, #[hqq(operand = 6)] u32);

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x80)]
struct Stop;

fn main() {
    let pair = Pair(9, 8);
    assert_eq!(pair.encode().words(), [0xEF, 9, 0, 0, 0, 0, 0, 8]);
    assert_eq!(Pair::decode(&pair.encode()), Ok(pair));
    assert_eq!(Stop.encode().words(), [0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(Stop::decode(&Stop.encode()), Ok(Stop));
}
