//! `#[hqq(operand = N)]` places a field; the next field follows it; seven
//! fields fill every operand.
use hqq::{Packet, PacketCodec};

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x81)]
struct Sparse {
    #[hqq(operand = 5)]
    last: u64,
    after: u64,
    #[hqq(operand = 0)]
    first: u64,
}

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x82)]
struct Full {
    a: u64,
    b: u64,
    c: u64,
    d: u64,
    e: u64,
    f: u64,
    g: u64,
}

fn main() {
    let s = Sparse { last: 5, after: 6, first: 1 };
    assert_eq!(s.encode().words(), [0x81, 1, 0, 0, 0, 0, 5, 6]);
    assert_eq!(Sparse::decode(&s.encode()), Ok(s));
    let f = Full { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7 };
    assert_eq!(f.encode().words(), [0x82, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(Full::decode(&f.encode()), Ok(f));
}
