//! `#[derive(OperandValue)]` newtypes, tuple and named, over narrow types
//! and generated enums, and newtypes over newtypes.
use hqq::protocol::ErrorCode;
use hqq::{OperandValue, Packet, PacketCodec};

#[derive(OperandValue, Debug, Clone, Copy, PartialEq)]
struct Millis(u32);

#[derive(OperandValue, Debug, Clone, Copy, PartialEq)]
struct Deadline {
    at: Millis,
}

#[derive(OperandValue, Debug, Clone, Copy, PartialEq)]
struct Reason(ErrorCode);

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x85)]
struct Cancel {
    deadline: Deadline,
    reason: Reason,
}

fn main() {
    let c = Cancel { deadline: Deadline { at: Millis(7) }, reason: Reason(ErrorCode::MemorySmall) };
    assert_eq!(c.encode().operand(0), 7);
    assert_eq!(Cancel::decode(&c.encode()), Ok(c));
}
