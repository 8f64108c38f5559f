use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Ping<T> {
    seq: T,
}

fn main() {}
