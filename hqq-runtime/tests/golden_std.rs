//! Golden segment images: perform the steps named in each
//! `tests/data/golden/std-4x64-*.bin` (written by the established Go
//! implementation) and compare the segment bytes.
//!
//! Bytes 64..4096 of the superblock page hold our extension block, which Go
//! leaves zero; everywhere else the images must match byte for byte, and
//! every difference must lie in the extension region.

mod conformance;
mod golden;

use std::time::Duration;

use conformance::{open, with_watchdog, HeapRegion, Region};
use hqq_runtime::{Layout, Packet, Role};

fn copy(copy_id: u64, index: usize, size: usize) -> Packet {
    Packet::new(0xFF, [copy_id, index as u64, size as u64, 0, 0, 0, 0])
}

#[test]
fn standard_link_4x64_matches_go() {
    with_watchdog(Duration::from_secs(30), || {
        let layout = Layout::new(4, 64).unwrap();
        let heap = HeapRegion::new(layout.total_size());
        let region = Region(heap.ptr(), heap.len());

        // 1. The primary creates a 4 x 64 link.
        let primary = open(region, layout, Duration::from_secs(1)).unwrap();
        assert_eq!(primary.role(), Role::Primary);
        golden::assert_matches(&heap.snapshot(), "std-4x64-1-initialized.bin");

        // 2. The primary writes "hello".
        let mut claim = primary.tx().try_claim_send().unwrap();
        claim.write_payload(b"hello").unwrap();
        let index = claim.index();
        claim.commit(copy(1, index, 5));
        golden::assert_matches(&heap.snapshot(), "std-4x64-2-primary-wrote-hello.bin");

        // 3. A secondary attaches and reads it.
        let secondary = open(region, layout, Duration::from_secs(1)).unwrap();
        assert_eq!(secondary.role(), Role::Secondary);
        let claim = secondary.rx().try_claim_recv().unwrap();
        assert_eq!(claim.packet(), copy(1, 0, 5));
        let mut out = [0u8; 64];
        let n = claim
            .read_payload(claim.packet().operand(2), &mut out)
            .unwrap();
        assert_eq!(&out[..n], b"hello");
        claim.release();
        golden::assert_matches(&heap.snapshot(), "std-4x64-3-secondary-read-hello.bin");

        // 4. The secondary writes "world!".
        let mut claim = secondary.tx().try_claim_send().unwrap();
        claim.write_payload(b"world!").unwrap();
        let index = claim.index();
        claim.commit(copy(1, index, 6));
        golden::assert_matches(&heap.snapshot(), "std-4x64-4-secondary-wrote-world.bin");
    });
}
