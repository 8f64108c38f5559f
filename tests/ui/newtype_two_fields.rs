use hqq::OperandValue;

#[derive(OperandValue)]
struct Range(u32, u32);

fn main() {}
