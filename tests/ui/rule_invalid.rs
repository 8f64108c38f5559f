use hqq::Packet;

#[derive(Packet)]
#[hqq(opcode = 0x80)]
struct UnknownField {
    #[hqq(rule = "offset + size <= total")]
    offset: u64,
    size: u32,
}

#[derive(Packet)]
#[hqq(opcode = 0x81)]
struct NoComparison {
    #[hqq(rule = "size + 1")]
    size: u64,
}

#[derive(Packet)]
#[hqq(opcode = 0x82)]
struct UnknownLimit {
    #[hqq(rule = "size <= limits.buffer_sise")]
    size: u16,
}

#[derive(Packet)]
#[hqq(opcode = 0x83)]
struct ArithmeticOnSigned {
    #[hqq(rule = "delta + size <= 10")]
    delta: i64,
    size: u8,
    done: bool,
}

#[derive(Packet)]
#[hqq(opcode = 0x84)]
struct ConditionOnAnInteger {
    #[hqq(rule = "size <= 16 when count.Final")]
    size: u64,
    count: u32,
}

fn main() {}
