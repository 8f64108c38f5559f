//! Bounded, seeded version of the `reassembly` fuzz target (see
//! `fuzz/README.md`): arbitrary chunk sequences, and valid chunked
//! messages interleaved and lightly mutated, through the Advanced link's
//! `Reassembler`.

mod fuzz_harness;

use fuzz_harness::Rng;

#[test]
fn random_chunk_sequences_never_panic() {
    let mut rng = Rng(0x5245_4153_5345_4d42);
    for _ in 0..5_000 {
        let len = (rng.next() % 600) as usize;
        let input = rng.bytes(len);
        fuzz_harness::reassembly(&input);
    }
}

/// Inputs that encode well-formed chunk runs (Begin, middles, End with
/// consistent totals and offsets), with a byte changed now and then, so the
/// harness also exercises completed messages.
#[test]
fn mostly_valid_chunk_runs_reassemble() {
    let mut rng = Rng(11);
    for _ in 0..2_000 {
        // Generous limits: message size 255 * 16, 7 partial, 255 * 32 bytes.
        let mut input = vec![255u8, 7, 255];
        for _ in 0..1 + rng.next() % 4 {
            let op = (rng.next() % 0x7F) as u8 & !0x03 | (rng.next() % 3) as u8;
            let op = if op == 0xFF { 0 } else { op };
            let chunk = 1 + rng.next() % 40;
            let total = rng.next() % 200;
            let mut offset = 0;
            loop {
                let size = chunk.min(total - offset);
                let mut flags = 0u8;
                if offset == 0 {
                    flags |= 1;
                }
                if offset + size == total {
                    flags |= 2;
                }
                input.extend([op, total as u8, offset as u8, size as u8, flags, 0]);
                input.push(size as u8);
                input.extend((0..size).map(|_| rng.next() as u8));
                offset += size;
                if offset == total {
                    break;
                }
            }
        }
        if rng.next() % 4 == 0 {
            let at = 3 + (rng.next() as usize % (input.len() - 3));
            input[at] = rng.next() as u8;
        }
        fuzz_harness::reassembly(&input);
    }
}
