use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0xFF)]
struct MyCopy {
    copy: u64,
}

fn main() {}
