//! The golden std-4x64 steps performed through `StandardLink` on a named
//! segment, compared with the images the Go implementation wrote
//! (`tests/data/golden/std-4x64-*.bin`).
//!
//! Bytes 64..4096 of the superblock page hold our extension block (Go
//! leaves them zero); every other byte must match, and every difference
//! must lie in that region.

mod golden;
mod support;

use std::time::Duration;

use hqq_runtime::link::{LinkConfig, StandardLink};
use hqq_runtime::segment::Segment;
use hqq_runtime::Role;
use support::unique_segment_name;

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
    golden::assert_matches(&golden::snapshot(&observer), "std-4x64-1-initialized.bin");

    // 2. The primary writes "hello".
    primary.send(b"hello").unwrap();
    golden::assert_matches(
        &golden::snapshot(&observer),
        "std-4x64-2-primary-wrote-hello.bin",
    );

    // 3. A secondary attaches and reads it.
    let secondary = StandardLink::open(&name, &config).unwrap();
    assert_eq!(secondary.role(), Role::Secondary);
    let mut buf = [0u8; 64];
    let n = secondary.try_recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    golden::assert_matches(
        &golden::snapshot(&observer),
        "std-4x64-3-secondary-read-hello.bin",
    );

    // 4. The secondary writes "world!".
    secondary.send(b"world!").unwrap();
    golden::assert_matches(
        &golden::snapshot(&observer),
        "std-4x64-4-secondary-wrote-world.bin",
    );

    drop(secondary);
    drop(primary);
    assert!(
        Segment::open(&name, 1).is_err(),
        "the creator removes the name on drop"
    );
}
