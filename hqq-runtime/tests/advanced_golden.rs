//! Golden segment images of the Advanced link: perform the steps named in
//! each `tests/data/golden/adv-8x64-*.bin` (written by the established Go
//! implementation) with our Advanced link and compare the segment bytes.
//!
//! Bytes 64..4096 of the superblock page hold our extension block, which Go
//! leaves zero; everywhere else the images must match byte for byte.

mod advanced;
mod golden;

use std::time::Duration;

use advanced::{link_config, with_watchdog};
use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, ProtocolOffer};
use hqq_runtime::link::StandardLink;
use hqq_runtime::{Layout, Segment};

#[test]
fn advanced_link_8x64_matches_go() {
    with_watchdog(Duration::from_secs(60), || {
        let layout = Layout::new(8, 64).unwrap();
        let name = format!("hqq-adv-golden-{}", std::process::id());
        let link = link_config(8, 64);
        let primary = StandardLink::create(&name, &link).unwrap();
        // A second mapping of the named segment, to take snapshots.
        let segment = Segment::open(&name, layout.total_size()).unwrap();
        let secondary = StandardLink::open(&name, &link).unwrap();
        // The acceptor supports everything Go asks for.
        let config = AdvancedConfig {
            offer: ProtocolOffer {
                capabilities: ProtocolOffer::GO_COMPATIBLE.capabilities,
                ..ProtocolOffer::default()
            },
            ..AdvancedConfig::default()
        };
        let primary = AdvancedLink::new(primary, config);
        let secondary = AdvancedLink::new(secondary, config);

        // 1. The primary negotiates 1.0 with features 3 (capabilities 7), as Go does.
        std::thread::scope(|s| {
            let acceptor = s.spawn(|| secondary.wait_for_negotiation().unwrap());
            let ours = primary.negotiate(ProtocolOffer::GO_COMPATIBLE).unwrap();
            let theirs = acceptor.join().unwrap();
            assert_eq!(ours.version, theirs.version);
            assert_eq!(ours.features.bits(), 3);
            assert_eq!(ours.capabilities.bits(), 7);
        });
        golden::assert_matches(&golden::snapshot(&segment), "adv-8x64-1-negotiated.bin");

        // 2. The primary sends a 150-byte message (bytes 0..149) on connection 0.
        let data: Vec<u8> = (0..150u8).collect();
        assert_eq!(primary.send_large(0, &data).unwrap(), 1);
        golden::assert_matches(&golden::snapshot(&segment), "adv-8x64-2-sent-large-150.bin");

        // 3. The secondary receives it.
        let received = secondary.recv_large(0).unwrap();
        assert_eq!(received.data, data);
        golden::assert_matches(
            &golden::snapshot(&segment),
            "adv-8x64-3-received-large-150.bin",
        );
        let stats = secondary.stats();
        assert_eq!((stats.messages_received, stats.chunks_received), (1, 3));
        assert_eq!(primary.stats().chunks_sent, 3);
    });
}
