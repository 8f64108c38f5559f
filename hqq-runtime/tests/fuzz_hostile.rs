//! Bounded, seeded version of the `hostile_peer` fuzz target (see
//! `fuzz/README.md`): a writer and a reader keep working on a segment while
//! random bytes and words anywhere in it are overwritten between their
//! operations; nothing panics and nothing hangs.

mod fuzz_harness;

use fuzz_harness::Rng;

#[test]
fn hostile_writes_between_operations_never_panic_or_hang() {
    let mut rng = Rng(0x0068_6f73_7469_6c65);
    for _ in 0..400 {
        let len = 16 + (rng.next() % 512) as usize;
        let input = rng.bytes(len);
        fuzz_harness::hostile_peer(&input);
    }
}

#[test]
fn hostile_writes_aimed_at_the_ring_headers_and_slots() {
    // Offsets inside the first ring (page 1: header, then 72-byte slots) and
    // the superblock page, where corruption matters most.
    let mut rng = Rng(42);
    for _ in 0..400 {
        let mut input = Vec::new();
        for _ in 0..40 {
            let op = (rng.next() % 8) as u8;
            input.push(op);
            if op <= 2 {
                let offset = if rng.next() % 2 == 0 {
                    4096 + rng.next() % 600
                } else {
                    rng.next() % 2048
                };
                input.extend_from_slice(&(offset << 16).to_le_bytes());
                input.extend_from_slice(&rng.next().to_le_bytes()[..if op == 2 { 8 } else { 1 }]);
            }
        }
        fuzz_harness::hostile_peer(&input);
    }
}
