//! Bounded, seeded version of the `decryption` fuzz target (see
//! `fuzz/README.md`): arbitrary bytes as a sealed Advanced message, and
//! inputs sealed, opened, changed and cut, through the link's opener.

mod fuzz_harness;

use fuzz_harness::Rng;

#[test]
fn random_and_mutated_sealed_messages_never_panic_and_never_open() {
    let mut rng = Rng(0x5345_414c_4544_2121);
    for _ in 0..600 {
        let len = if rng.next() % 40 == 0 {
            (rng.next() % 140_000) as usize
        } else {
            (rng.next() % 3_000) as usize
        };
        fuzz_harness::decryption(&rng.bytes(len));
    }
}
