use hqq::Dispatch;

struct Ping {
    seq: u64,
}

#[derive(Dispatch)]
enum App {
    Ping(Ping),
}

fn main() {}
