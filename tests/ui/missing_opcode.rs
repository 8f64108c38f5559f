use hqq::Packet;

#[derive(Packet)]
struct Ping {
    seq: u64,
}

fn main() {}
