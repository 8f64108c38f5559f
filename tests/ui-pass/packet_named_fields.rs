//! Named fields take operands in declaration order; `name` sets `NAME`.
use hqq::{Packet, PacketCodec};

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x80, name = "Hello")]
struct Ping {
    seq: u64,
    stamp: u64,
}

fn main() {
    let ping = Ping { seq: 1, stamp: 2 };
    assert_eq!(ping.encode().words(), [0x80, 1, 2, 0, 0, 0, 0, 0]);
    assert_eq!(Ping::decode(&ping.encode()), Ok(ping));
    assert_eq!(<Ping as PacketCodec>::NAME, "Hello");
}
