use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Ping {
    seq: u64,
    #[hqq(operand = 7)]
    stamp: u64,
}

fn main() {}
