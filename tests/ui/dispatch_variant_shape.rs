use hqq::{Dispatch, Packet};

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Ping {
    seq: u64,
}

#[derive(Dispatch)]
enum App {
    Ping(Ping),
    Stop,
}

fn main() {}
