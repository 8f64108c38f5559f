//! An untrusted peer: random bytes written into a live named segment
//! (superblock, extension words, ring headers, sequence numbers, packets)
//! while both ends keep sending and receiving through `StandardLink` with
//! timeouts. Every operation returns a value or a typed error in bounded
//! time: no panic, hang or out-of-bounds access. Also runs the in-memory
//! conformance suite on a named segment.

mod conformance;
mod support;

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::time::Duration;

use conformance::{with_watchdog, Garbage, Region, REGION_LEN};
use hqq_runtime::link::{LinkConfig, LinkRecvError, LinkSendError, StandardLink};
use hqq_runtime::segment::{Segment, SegmentOptions};
use hqq_runtime::{Direction, Layout, Packet};
use support::unique_segment_name;

const WATCHDOG: Duration = Duration::from_secs(120);

/// Runs a conformance function on a fresh named segment.
fn on_named_segment(test: fn(Region)) {
    with_watchdog(WATCHDOG, move || {
        let name = unique_segment_name("conformance");
        let segment = Segment::create(&name, REGION_LEN, &SegmentOptions::new()).unwrap();
        let ptr = NonNull::new(segment.as_ptr()).expect("mapped");
        test(Region(ptr, segment.len()));
        drop(segment);
    });
}

#[test]
fn conformance_on_named_segment_exchange() {
    on_named_segment(conformance::primary_and_secondary_exchange);
}

#[test]
fn conformance_on_named_segment_election() {
    on_named_segment(conformance::concurrent_open_elects_one_primary);
}

#[test]
fn conformance_on_named_segment_mismatched_config() {
    on_named_segment(conformance::secondary_rejects_mismatched_config);
}

#[test]
fn conformance_on_named_segment_stuck_primary() {
    on_named_segment(conformance::secondary_times_out_on_stuck_primary);
}

#[test]
fn conformance_on_named_segment_region_checks() {
    on_named_segment(conformance::region_is_checked);
}

#[test]
fn conformance_on_named_segment_garbage_superblock() {
    on_named_segment(conformance::garbage_superblock_is_an_error);
}

#[test]
fn conformance_on_named_segment_corruption() {
    on_named_segment(conformance::corrupted_live_segment_reports_errors);
}

#[derive(Default, Debug)]
struct Outcomes {
    delivered: u64,
    errors: u64,
}

fn check_send(result: Result<(), LinkSendError>, o: &mut Outcomes) {
    match result {
        Ok(()) => {}
        // A peer that scribbles on the process table can make us see it as gone.
        Err(LinkSendError::Corrupt | LinkSendError::PeerGone) => o.errors += 1,
        Err(LinkSendError::TimedOut | LinkSendError::WouldBlock) => {}
        Err(e @ LinkSendError::InvalidSize { .. }) => panic!("valid sizes only: {e}"),
    }
}

fn check_recv(result: Result<usize, LinkRecvError>, o: &mut Outcomes) {
    match result {
        Ok(n) => {
            assert!((1..=64).contains(&n), "length {n}");
            o.delivered += 1;
        }
        Err(LinkRecvError::TimedOut | LinkRecvError::WouldBlock) => {}
        Err(
            LinkRecvError::Corrupt
            | LinkRecvError::Protocol(_)
            | LinkRecvError::Peer { .. }
            | LinkRecvError::UnexpectedPacket(_)
            | LinkRecvError::PeerGone,
        ) => o.errors += 1,
    }
}

#[test]
fn corrupted_live_named_segment_gives_typed_errors() {
    with_watchdog(WATCHDOG, || {
        let name = unique_segment_name("corrupt-link");
        let mut config = LinkConfig::new();
        config.slots(4).buffer_size(64);
        let primary = StandardLink::create(&name, &config).unwrap();
        let secondary = StandardLink::open(&name, &config).unwrap();
        let layout = Layout::new(4, 64).unwrap();
        let attacker = Segment::open(&name, layout.total_size()).unwrap();

        let mut targets: Vec<usize> = (0..64).step_by(8).collect();
        // The extension block's wake-up words.
        targets.extend([128, 256, 384, 512]);
        for d in [Direction::PrimaryToSecondary, Direction::SecondaryToPrimary] {
            let ring = layout.ring_offset(d);
            targets.extend([0, 8, 16, 24, 128].map(|o| ring + o));
            for slot in 0..4 {
                // Packet words (opcode, copy id, buffer index, size, ...) and seq.
                targets.extend((0..9).map(|w| ring + 256 + 72 * slot + 8 * w));
            }
            targets.extend((0..8).map(|w| layout.buffers_offset(d) + 8 * w));
        }
        let mut garbage = Garbage(0x0123_4567_89ab_cdef);
        let mut o = Outcomes::default();
        let short = Duration::from_micros(300);
        let mut buf = [0u8; 64];
        for round in 0..3000u64 {
            for _ in 0..(garbage.next() % 3) {
                let target = targets[(garbage.next() % targets.len() as u64) as usize];
                let value = garbage.value();
                // Now and then a near-valid packet instead of noise.
                let value = if round % 7 == 0 { value % 128 } else { value };
                attacker
                    .atomic_u64(target)
                    .expect("in bounds")
                    .store(value, Ordering::SeqCst);
            }
            let (sender, receiver) = if round % 2 == 0 {
                (&primary, &secondary)
            } else {
                (&secondary, &primary)
            };
            check_send(sender.send_timeout(b"payload", short), &mut o);
            check_recv(receiver.try_recv(&mut buf), &mut o);
            check_recv(receiver.recv_timeout(&mut buf, short), &mut o);
            check_send(
                sender.try_send_packet(Packet::new(0x90, [1, 0, 0, 0, 0, 0, 0]), b"raw"),
                &mut o,
            );
            match receiver.try_recv_packet() {
                Ok(p) => {
                    let _ = p.packet();
                    assert_eq!(p.payload().len(), 64);
                }
                Err(e) => check_recv(Err(e), &mut o),
            }
            match receiver.try_reserve_recv() {
                Ok(r) => assert!((1..=64).contains(&r.payload().len())),
                Err(e) => check_recv(Err(e), &mut o),
            }
            if let Ok(r) = sender.try_reserve_send() {
                r.abort();
            }
        }
        println!(
            "{o:?}; primary {:?}; secondary {:?}",
            primary.stats(),
            secondary.stats()
        );
        assert!(o.errors > 0, "no corruption was ever detected");
        assert!(o.delivered > 0, "nothing was ever delivered");
        let counted = primary.stats().rx.errors
            + primary.stats().tx.errors
            + secondary.stats().rx.errors
            + secondary.stats().tx.errors;
        assert!(counted > 0, "errors are counted in the stats");
    });
}
