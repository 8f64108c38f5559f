use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Ping {
    #[hqq(index = 2)]
    seq: u64,
}

fn main() {}
