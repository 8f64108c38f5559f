//! Comparison of our segment bytes with the images the Go implementation
//! wrote (`tests/data/golden/*.bin`), shared by the golden tests.
//!
//! Bytes 64..4096 of page 0 hold our extension block, which Go leaves zero
//! and ignores: they may differ; every other byte must match exactly.

use std::ops::Range;
use std::sync::atomic::Ordering;

use hqq_runtime::extension::{EXTENSION_MAGIC, EXTENSION_OFFSET};
use hqq_runtime::segment::Segment;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/golden/");
const EXTENSION_REGION: Range<usize> = EXTENSION_OFFSET..4096;

/// The segment's bytes, read word by word with atomic loads (the segment
/// is shared memory; the test's steps have finished when it is called).
#[allow(dead_code)] // not every test binary takes segment snapshots
pub fn snapshot(segment: &Segment) -> Vec<u8> {
    (0..segment.len() / 8)
        .flat_map(|i| {
            segment
                .atomic_u64(i * 8)
                .expect("an aligned offset inside the segment")
                .load(Ordering::SeqCst)
                .to_le_bytes()
        })
        .collect()
}

/// Asserts that `ours` equals the golden image `name` outside our extension
/// region, that Go left that region zero, and that our extension is there.
pub fn assert_matches(ours: &[u8], name: &str) {
    let golden = std::fs::read(format!("{GOLDEN}{name}")).unwrap();
    assert_eq!(ours.len(), golden.len(), "{name}: size");
    let outside: Vec<usize> = (0..ours.len())
        .filter(|i| ours[*i] != golden[*i] && !EXTENSION_REGION.contains(i))
        .take(16)
        .collect();
    assert!(
        outside.is_empty(),
        "{name}: bytes differ at {outside:x?} (ours {:02x?}, golden {:02x?})",
        outside.iter().map(|&i| ours[i]).collect::<Vec<_>>(),
        outside.iter().map(|&i| golden[i]).collect::<Vec<_>>(),
    );
    assert!(
        golden[EXTENSION_REGION].iter().all(|&b| b == 0),
        "{name}: Go wrote into our extension region"
    );
    let magic = EXTENSION_OFFSET..EXTENSION_OFFSET + 8;
    assert_eq!(
        ours[magic],
        EXTENSION_MAGIC.to_le_bytes(),
        "{name}: extension magic"
    );
}
