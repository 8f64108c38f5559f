use hqq::{Dispatch, Packet};

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Ping {
    seq: u64,
}

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct Pong {
    seq: u64,
}

#[derive(Dispatch)]
enum App {
    Ping(Ping),
    Pong(Pong),
}

fn main() {}
