//! Quality of service on the sending side, watched from a raw peer (both
//! ends in this process): a call on a high-priority connection goes into
//! the ring right after the chunk a low-priority transfer is putting
//! there, and holds the transfer to a short backlog while it waits; a
//! bandwidth cap holds a connection to its rate.

mod advanced;
mod support;

use std::time::{Duration, Instant};

use advanced::{standard_pair, with_watchdog};
use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, Priority, ProtocolOffer, QosError};
use hqq_runtime::codec::PacketCodec;
use hqq_runtime::link::StandardLink;
use hqq_runtime::protocol::{ConnCopy, ConnCreate, Features, OpCode};

const LIMIT: Duration = Duration::from_secs(60);
const SLOTS: u64 = 8;
const BUFFER: u64 = 4096;
const LOW: u64 = 1;
const HIGH: u64 = 2;

/// `ours` negotiated (as the acceptor) with a raw `peer` that asked for
/// `features`, with connections [`LOW`] and [`HIGH`] open (the peer
/// dialed them); the peer drained our answers.
fn connected(features: Features) -> (AdvancedLink, StandardLink) {
    let (ours, peer) = standard_pair(SLOTS, BUFFER);
    let config = AdvancedConfig::default().quality_of_service();
    let ours = AdvancedLink::new(ours, config);
    let offer = ProtocolOffer {
        features,
        ..ProtocolOffer::GO_COMPATIBLE
    };
    peer.send_packet(offer.request().encode(), &[]).unwrap();
    ours.wait_for_negotiation().unwrap();
    ours.listen().unwrap();
    for connection in [LOW, HIGH] {
        let create = ConnCreate {
            connection,
            stream_flags: 0,
        };
        peer.send_packet(create.encode(), &[]).unwrap();
        assert_eq!(ours.accept().unwrap(), connection);
    }
    for expected in [OpCode::ProtoAck, OpCode::ConnAccept, OpCode::ConnAccept] {
        assert_eq!(
            peer.recv_packet().unwrap().packet().opcode(),
            expected.code()
        );
    }
    (ours, peer)
}

fn qos_features() -> Features {
    ProtocolOffer::GO_COMPATIBLE.features | Features::QUALITY_OF_SERVICE
}

/// Waits (bounded by the watchdog) until `done`.
fn until(done: impl Fn() -> bool) {
    while !done() {
        std::thread::yield_now();
    }
}

/// Most packets the ring holds while a call on [`HIGH`] waits for its
/// response and [`LOW`] streams: the scheduler's backlog bound (a chunk of
/// a lower class goes only while fewer than 4 packets wait).
const HELD_BACK_RING: u64 = 4;

#[test]
fn a_call_on_a_high_priority_connection_overtakes_a_transfer_and_holds_it_back() {
    with_watchdog(LIMIT, || {
        let (ours, peer) = connected(qos_features());
        ours.set_priority(LOW, Priority::Low).unwrap();
        ours.set_priority(HIGH, Priority::High).unwrap();
        let transfer = vec![0x11u8; 64 * BUFFER as usize];
        std::thread::scope(|s| {
            s.spawn(|| ours.send_large(LOW, &transfer).unwrap());
            // The transfer fills the ring (the peer does not read yet) and
            // waits for room with its next chunk's turn.
            until(|| {
                ours.stats().chunks_sent == SLOTS && ours.scheduled_senders(Priority::Low) == 1
            });
            // Nobody answers the call: it stays in progress until its
            // deadline, long after the checks below.
            let call = s.spawn(|| {
                let deadline = Instant::now() + Duration::from_secs(2);
                ours.call_on_until(HIGH, 1, b"urgent", deadline).map(drop)
            });
            until(|| ours.scheduled_senders(Priority::High) == 1);
            // The peer reads until the request.
            let mut read = Vec::new();
            while read.last() != Some(&HIGH) {
                let received = peer.recv_packet_timeout(Duration::from_secs(10)).unwrap();
                read.push(ConnCopy::decode(&received.packet()).unwrap().connection);
            }
            // The ring's eight chunks, then at most the one the transfer
            // was putting there when the call came.
            assert!(
                read.len() <= SLOTS as usize + 2,
                "{} transfer chunks went before the call: {read:?}",
                read.len() - 1
            );
            // While the call waits, the transfer keeps the ring short (it
            // would fill all eight slots in far less than this pause if
            // priorities were ignored).
            std::thread::sleep(Duration::from_millis(300));
            let (read_position, write_position) = peer.memory().rx().positions();
            let in_ring = write_position - read_position;
            assert!(
                in_ring <= HELD_BACK_RING,
                "{in_ring} packets wait in the ring during the call"
            );
            // Once the call gave up, the transfer goes on to its end.
            assert!(call.join().unwrap().is_err());
            let mut low = read.iter().filter(|&&c| c == LOW).count();
            while low < 64 {
                let received = peer.recv_packet_timeout(Duration::from_secs(10)).unwrap();
                let chunk = ConnCopy::decode(&received.packet()).unwrap();
                assert_eq!(chunk.connection, LOW);
                low += 1;
            }
        });
    });
}

#[test]
fn a_bandwidth_cap_holds_a_connection_to_its_rate() {
    with_watchdog(LIMIT, || {
        let (ours, peer) = connected(qos_features());
        // 1 MiB/s: the bucket holds 20 ms of it (20 KiB, five chunks).
        let rate = 1 << 20;
        ours.set_bandwidth_cap(LOW, Some(rate)).unwrap();
        let total = 64 * BUFFER;
        let started = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut left = 64;
                while left > 0 {
                    let received = peer.recv_packet_timeout(Duration::from_secs(10)).unwrap();
                    assert_eq!(received.packet().opcode(), OpCode::ConnCopy.code());
                    left -= 1;
                }
            });
            ours.send_large(LOW, &vec![1u8; total as usize]).unwrap();
        });
        // Never faster than the rate (beyond the first burst); a slow
        // machine only makes it slower.
        let burst = rate / 50;
        let least = Duration::from_secs_f64((total - burst) as f64 / rate as f64);
        let elapsed = started.elapsed();
        assert!(
            elapsed >= least,
            "{total} bytes in {elapsed:?} at {rate} B/s"
        );
        // The uncapped connection is not held back.
        ours.set_bandwidth_cap(LOW, None).unwrap();
    });
}

#[test]
fn without_quality_of_service_priorities_are_refused() {
    with_watchdog(LIMIT, || {
        // A Go peer never asks for the bit.
        let (ours, peer) = connected(ProtocolOffer::GO_COMPATIBLE.features);
        assert!(matches!(
            ours.set_priority(LOW, Priority::High),
            Err(QosError::State(_))
        ));
        assert!(ours.set_bandwidth_cap(LOW, Some(1000)).is_err());
        assert_eq!(ours.scheduled_senders(Priority::Normal), 0);
        // Sends go as before.
        ours.send_large(LOW, b"plain").unwrap();
        let chunk = ConnCopy::decode(&peer.recv_packet().unwrap().packet()).unwrap();
        assert_eq!((chunk.connection, chunk.size), (LOW, 5));
    });
}

#[test]
fn a_closed_or_unknown_connection_has_no_policy() {
    with_watchdog(LIMIT, || {
        let (ours, _peer) = connected(qos_features());
        assert_eq!(
            ours.set_priority(99, Priority::High),
            Err(QosError::NotConnected(99))
        );
        ours.close(LOW).unwrap();
        assert_eq!(
            ours.set_bandwidth_cap(LOW, Some(1)),
            Err(QosError::NotConnected(LOW))
        );
    });
}
