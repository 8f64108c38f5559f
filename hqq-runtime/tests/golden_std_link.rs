//! The golden std-4x64 steps performed through `StandardLink` on a named
//! segment, compared with the images the Go implementation wrote
//! (`tests/data/golden/std-4x64-*.bin`).
//!
//! Bytes 64..4096 of the superblock page hold our extension block (Go
//! leaves them zero); every other byte must match, and every difference
//! must lie in that region.

mod support;

use std::ops::Range;
use std::time::Duration;

use hqq_runtime::extension::EXTENSION_OFFSET;
use hqq_runtime::link::{LinkConfig, StandardLink};
use hqq_runtime::segment::Segment;
use hqq_runtime::Role;
use support::unique_segment_name;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/golden/");
const EXTENSION_REGION: Range<usize> = EXTENSION_OFFSET..4096;

/// The segment's bytes, read word by word with atomics (the link owns the
/// memory; this is how an outside observer reads it).
fn snapshot(segment: &Segment) -> Vec<u8> {
    (0..segment.len() / 8)
        .flat_map(|i| {
            segment
                .atomic_u64(i * 8)
                .expect("in bounds")
                .load(std::sync::atomic::Ordering::SeqCst)
                .to_le_bytes()
        })
        .collect()
}

fn assert_matches_golden(observer: &Segment, name: &str) {
    let golden = std::fs::read(format!("{GOLDEN}{name}")).unwrap();
    let ours = snapshot(observer);
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
    assert_eq!(&ours[64..72], b"HQQEXT01", "{name}: extension magic");
}

#[test]
fn standard_link_4x64_matches_go_on_a_named_segment() {
    let name = unique_segment_name("golden-link");
    let mut config = LinkConfig::new();
    config
        .slots(4)
        .buffer_size(64)
        .ready_timeout(Duration::from_secs(5));

    // 1. The primary creates a 4 x 64 link.
    let primary = StandardLink::create(&name, &config).unwrap();
    assert_eq!(primary.role(), Role::Primary);
    let observer = Segment::open(&name, 20480).unwrap();
    assert_matches_golden(&observer, "std-4x64-1-initialized.bin");

    // 2. The primary writes "hello".
    primary.send(b"hello").unwrap();
    assert_matches_golden(&observer, "std-4x64-2-primary-wrote-hello.bin");

    // 3. A secondary attaches and reads it.
    let secondary = StandardLink::open(&name, &config).unwrap();
    assert_eq!(secondary.role(), Role::Secondary);
    let mut buf = [0u8; 64];
    let n = secondary.try_recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert_matches_golden(&observer, "std-4x64-3-secondary-read-hello.bin");

    // 4. The secondary writes "world!".
    secondary.send(b"world!").unwrap();
    assert_matches_golden(&observer, "std-4x64-4-secondary-wrote-world.bin");

    drop(secondary);
    drop(primary);
    assert!(
        Segment::open(&name, 1).is_err(),
        "the creator removes the name on drop"
    );
}
