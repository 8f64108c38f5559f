//! Bounded, seeded version of the `decompression` fuzz target (see
//! `fuzz/README.md`): arbitrary bytes as a compressed Advanced message,
//! and compressible inputs round-tripped and mutated, through the link's
//! frame decoder.

mod fuzz_harness;

use fuzz_harness::Rng;

#[test]
fn random_compressed_messages_never_panic() {
    let mut rng = Rng(0x4c5a_3446_5241_4d45);
    for _ in 0..3_000 {
        let len = (rng.next() % 2_000) as usize;
        fuzz_harness::decompression(&rng.bytes(len));
    }
}

/// Inputs whose tail repeats (so it compresses), mutated after compression
/// now and then (mode bit 2).
#[test]
fn compressible_inputs_round_trip_and_mutations_stay_bounded() {
    let mut rng = Rng(15);
    for _ in 0..2_000 {
        let mut input = vec![rng.next() as u8, rng.next() as u8, rng.next() as u8];
        let word_len = 1 + (rng.next() % 12) as usize;
        let word = rng.bytes(word_len);
        for _ in 0..rng.next() % 20_000 / word.len() as u64 {
            input.extend_from_slice(&word);
        }
        fuzz_harness::decompression(&input);
    }
}
