//! Golden segment images of the Advanced link: perform the steps named in
//! each `tests/data/golden/adv-8x64-*.bin` (written by the established Go
//! implementation) with our Advanced link and compare the segment bytes.
//!
//! Bytes 64..4096 of the superblock page hold our extension block, which Go
//! leaves zero; everywhere else the images must match byte for byte.

mod advanced;

use std::ops::Range;
use std::time::Duration;

use advanced::{anonymous, with_watchdog, SegmentEnd};
use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, ProtocolOffer};
use hqq_runtime::extension::EXTENSION_OFFSET;
use hqq_runtime::{Layout, Segment};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/golden/");
const EXTENSION_REGION: Range<usize> = EXTENSION_OFFSET..4096;

fn snapshot(segment: &Segment) -> Vec<u8> {
    // SAFETY: the segment is mapped for `len` bytes; no other thread writes
    // while the test takes the snapshot (every step has finished).
    unsafe { std::slice::from_raw_parts(segment.as_ptr(), segment.len()).to_vec() }
}

fn assert_matches_golden(segment: &Segment, name: &str) {
    let golden = std::fs::read(format!("{GOLDEN}{name}")).unwrap();
    let ours = snapshot(segment);
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
}

#[test]
fn advanced_link_8x64_matches_go() {
    with_watchdog(Duration::from_secs(60), || {
        let layout = Layout::new(8, 64).unwrap();
        let segment = anonymous(layout);
        // The acceptor supports everything Go asks for.
        let config = AdvancedConfig {
            offer: ProtocolOffer {
                capabilities: ProtocolOffer::GO_COMPATIBLE.capabilities,
                ..ProtocolOffer::default()
            },
            ..AdvancedConfig::default()
        };
        let primary = AdvancedLink::new(SegmentEnd::open(&segment, layout), config);
        let secondary = AdvancedLink::new(SegmentEnd::open(&segment, layout), config);

        // 1. The primary negotiates 1.0 with features 3 (capabilities 7), as Go does.
        std::thread::scope(|s| {
            let acceptor = s.spawn(|| secondary.wait_for_negotiation().unwrap());
            let ours = primary.negotiate(ProtocolOffer::GO_COMPATIBLE).unwrap();
            let theirs = acceptor.join().unwrap();
            assert_eq!(ours.version, theirs.version);
            assert_eq!(ours.features.bits(), 3);
            assert_eq!(ours.capabilities.bits(), 7);
        });
        assert_matches_golden(&segment, "adv-8x64-1-negotiated.bin");

        // 2. The primary sends a 150-byte message (bytes 0..149) on connection 0.
        let data: Vec<u8> = (0..150u8).collect();
        assert_eq!(primary.send_large(0, &data).unwrap(), 1);
        assert_matches_golden(&segment, "adv-8x64-2-sent-large-150.bin");

        // 3. The secondary receives it.
        let received = secondary.recv_large(0).unwrap();
        assert_eq!(received.data, data);
        assert_matches_golden(&segment, "adv-8x64-3-received-large-150.bin");
        let stats = secondary.stats();
        assert_eq!((stats.messages_received, stats.chunks_received), (1, 3));
        assert_eq!(primary.stats().chunks_sent, 3);
    });
}
