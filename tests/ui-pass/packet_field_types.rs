//! Every field type: integers, bool, i64, Version, a generated enum and a
//! generated flag set.
use hqq::protocol::{ErrorCode, FrameFlags};
use hqq::runtime::codec::Version;
use hqq::{Packet, PacketCodec};

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x83)]
struct Everything {
    a: u64,
    b: u32,
    c: u16,
    d: u8,
    e: bool,
    f: i64,
    g: Version,
}

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x84)]
struct Generated {
    code: ErrorCode,
    flags: FrameFlags,
}

fn main() {
    let e = Everything { a: u64::MAX, b: u32::MAX, c: u16::MAX, d: u8::MAX, e: true, f: -2, g: Version::new(1, 1) };
    assert_eq!(Everything::decode(&e.encode()), Ok(e));
    let g = Generated { code: ErrorCode::InvalidOp, flags: FrameFlags::BEGIN | FrameFlags::END };
    assert_eq!(Generated::decode(&g.encode()), Ok(g));
}
