use hqq::Packet;

struct Celsius(u32);

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Reading {
    sensor: u64,
    value: Celsius,
}

fn main() {}
