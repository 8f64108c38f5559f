use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Reading {
    sensor: u64,
    value: f64,
}

fn main() {}
