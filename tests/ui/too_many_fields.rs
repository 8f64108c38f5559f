use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Wide {
    a: u64,
    b: u64,
    c: u64,
    d: u64,
    e: u64,
    f: u64,
    g: u64,
    h: u64,
}

fn main() {}
