//! A condition naming a flag the field's flag set does not have: the
//! compiler's error points at the rule.
mod telemetry {
    // trybuild builds this file in target/tests/trybuild/hqq.
    hqq::include_spec!("../../../../tests/derive/app.yaml");
}

#[derive(hqq::Packet)]
#[hqq(opcode = 0x80)]
struct Chunk {
    #[hqq(rule = "size <= 16 when flags.Last")]
    size: u64,
    flags: telemetry::SampleFlags,
}

fn main() {}
