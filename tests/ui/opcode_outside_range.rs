use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0x40)]
struct Ping {
    seq: u64,
}

fn main() {}
