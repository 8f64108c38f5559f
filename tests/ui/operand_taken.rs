use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Ping {
    seq: u64,
    stamp: u64,
    #[hqq(operand = 1)]
    ttl: u8,
}

fn main() {}
