//! Bounded, seeded version of the `decode_dispatch` fuzz target (see
//! `fuzz/README.md`): arbitrary packets, limits and payloads through decode,
//! validate and dispatch, plus packets built from valid ones with a few
//! bytes changed.

mod fuzz_harness;

use fuzz_harness::Rng;

use hqq_runtime::codec::PacketCodec;
use hqq_runtime::protocol::{ConnCopy, FrameFlags};

#[test]
fn random_inputs_never_panic() {
    let mut rng = Rng(0x4851_5146_555a_5a31);
    for _ in 0..20_000 {
        let len = (rng.next() % 200) as usize;
        let input = rng.bytes(len);
        fuzz_harness::decode_dispatch(&input);
    }
}

#[test]
fn mutated_valid_packets_never_panic() {
    let mut rng = Rng(7);
    let valid = ConnCopy {
        connection: 1,
        message: 2,
        total: 150,
        offset: 64,
        size: 64,
        chunk_flags: FrameFlags::BEGIN,
        method_or_status: 0,
    }
    .encode()
    .to_bytes();
    for _ in 0..20_000 {
        let mut input = valid.to_vec();
        // Small opcodes (the defined ones) most of the time.
        input[0] = (rng.next() % 12) as u8;
        for _ in 0..rng.next() % 4 {
            let at = (rng.next() % 64) as usize;
            input[at] = rng.next() as u8;
        }
        // Limits that sometimes admit the packet.
        input.extend_from_slice(&(64u64 + rng.next() % 128).to_le_bytes());
        input.extend_from_slice(&(1u64 + rng.next() % 8).to_le_bytes());
        input.extend_from_slice(&(rng.next() % 4096).to_le_bytes());
        let n = (rng.next() % 64) as usize;
        input.extend(rng.bytes(n));
        fuzz_harness::decode_dispatch(&input);
    }
}
