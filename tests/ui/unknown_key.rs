use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0x80, opcdoe = 0x81)]
struct Ping {
    seq: u64,
}

fn main() {}
