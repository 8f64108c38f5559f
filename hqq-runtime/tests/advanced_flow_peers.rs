//! Flow control against raw peers (both ends in this process): credit a
//! peer sends is checked against our limits, a peer that sends past our
//! credit is refused, and a peer that never asks for FlowControl (the Go
//! implementation) sees the link as before.

mod advanced;
mod support;

use std::time::{Duration, Instant};

use advanced::{standard_pair, with_watchdog};
use hqq_runtime::advanced::{
    AdvancedConfig, AdvancedLink, FlowControl, ProtocolOffer, RecvRequestError, SendLargeError,
    TransportError,
};
use hqq_runtime::codec::PacketCodec;
use hqq_runtime::link::StandardLink;
use hqq_runtime::protocol::{ConnCopy, ConnCredit, Error, ErrorCode, Features, FrameFlags, OpCode};
use hqq_runtime::Packet;

const LIMIT: Duration = Duration::from_secs(60);

fn flow_config(window: u64) -> AdvancedConfig {
    AdvancedConfig::default().flow_control(FlowControl {
        window,
        max_credit: 1 << 20,
    })
}

/// `ours` negotiated (as the acceptor) with a raw `peer` that asked for
/// `features`; the peer drained the ack.
fn negotiated_with_raw_peer(
    config: AdvancedConfig,
    buffer: u64,
    features: Features,
) -> (AdvancedLink, StandardLink) {
    let (ours, peer) = standard_pair(8, buffer);
    let ours = AdvancedLink::new(ours, config);
    let offer = ProtocolOffer {
        features,
        ..ProtocolOffer::GO_COMPATIBLE
    };
    peer.send_packet(offer.request().encode(), &[]).unwrap();
    ours.wait_for_negotiation().unwrap();
    assert_eq!(
        peer.recv_packet().unwrap().packet().opcode(),
        OpCode::ProtoAck.code()
    );
    (ours, peer)
}

fn flow_features() -> Features {
    ProtocolOffer::GO_COMPATIBLE.features | Features::FLOW_CONTROL
}

/// Pumps `ours` (a call that takes no plain message) until `until` is done.
fn pump_while(ours: &AdvancedLink, done: &dyn Fn() -> bool) {
    while !done() {
        let outcome = ours.recv_request_until(Instant::now() + Duration::from_millis(5));
        assert_eq!(
            outcome.unwrap_err(),
            RecvRequestError::Transport(TransportError::TimedOut)
        );
    }
}

/// The packets the raw peer has received, in order.
fn drain(peer: &StandardLink) -> Vec<Packet> {
    let mut packets = Vec::new();
    while let Ok(received) = peer.recv_packet_timeout(Duration::from_millis(50)) {
        packets.push(received.packet());
    }
    packets
}

fn errors(packets: &[Packet]) -> Vec<(u64, ErrorCode)> {
    packets
        .iter()
        .filter_map(|p| Error::decode(p).ok())
        .map(|e| (e.context, e.code))
        .collect()
}

#[test]
fn absurd_credit_is_refused_and_counted() {
    with_watchdog(LIMIT, || {
        let (ours, peer) = negotiated_with_raw_peer(flow_config(1 << 16), 64, flow_features());
        let absurd = [u64::MAX, (1 << 20) + 1];
        for limit in absurd {
            let credit = ConnCredit {
                connection: 0,
                limit,
            };
            peer.send_packet(credit.encode(), &[]).unwrap();
        }
        // Below the spec's floor: does not even decode.
        peer.send_packet(Packet::new(0x07, [0, 100, 0, 0, 0, 0, 0]), &[])
            .unwrap();
        // A fair raise is taken.
        let fair = ConnCredit {
            connection: 0,
            limit: 1 << 19,
        };
        peer.send_packet(fair.encode(), &[]).unwrap();
        let _ = ours.recv_request_until(Instant::now() + Duration::from_millis(100));
        let stats = ours.stats();
        assert_eq!(stats.credit_errors, 2, "{stats:?}");
        assert_eq!(stats.errors, 3, "{stats:?}");
        assert_eq!(ours.send_credit(0).unwrap().limit, 1 << 19);
        assert_eq!(
            errors(&drain(&peer)),
            [(0, ErrorCode::InvalidOp), (0, ErrorCode::InvalidOp)]
        );
    });
}

#[test]
fn a_peer_that_sends_past_our_credit_is_refused() {
    with_watchdog(LIMIT, || {
        // A 64 KiB window and nobody reading: exactly 1024 one-chunk
        // messages of 64 bytes fit.
        let (ours, peer) = negotiated_with_raw_peer(flow_config(1 << 16), 64, flow_features());
        peer.set_write_timeout(Some(Duration::from_secs(10)));
        std::thread::scope(|s| {
            let sender = s.spawn(|| {
                for message in 1..=1030u64 {
                    let chunk = ConnCopy {
                        connection: 0,
                        message,
                        total: 64,
                        offset: 0,
                        size: 64,
                        chunk_flags: FrameFlags::BEGIN | FrameFlags::END,
                        method_or_status: 0,
                    };
                    peer.send_packet(chunk.encode(), &[0xAB; 64]).unwrap();
                }
            });
            pump_while(&ours, &|| sender.is_finished());
        });
        let _ = ours.recv_request_until(Instant::now() + Duration::from_millis(50));
        let stats = ours.stats();
        assert_eq!(stats.credit_errors, 6, "{stats:?}");
        assert_eq!(stats.messages_received, 1024, "{stats:?}");
        let received = drain(&peer);
        assert!(errors(&received).contains(&(0, ErrorCode::BufferOverflow)));
        // No credit was granted: nothing was read.
        assert!(!received.iter().any(|p| p.opcode() == ConnCredit::OPCODE));
        // Reading gives credit back.
        for _ in 0..1024 {
            assert_eq!(ours.try_recv_large(0).unwrap().data, [0xAB; 64]);
        }
        // When half a window was read, and when the sender could send a
        // whole chunk (64 KiB) again: all read.
        let credits: Vec<u64> = drain(&peer)
            .iter()
            .filter_map(|p| ConnCredit::decode(p).ok())
            .map(|c| c.limit)
            .collect();
        assert_eq!(credits, [(1 << 16) + (1 << 15), 1024 * 64 + (1 << 16)]);
    });
}

#[test]
fn a_go_peer_never_sees_flow_control() {
    with_watchdog(LIMIT, || {
        // Buffers of 128 KiB: with flow control a 100 KiB message would go
        // in chunks of at most 64 KiB; without, in one.
        let (ours, peer) = negotiated_with_raw_peer(
            flow_config(1 << 20),
            128 * 1024,
            ProtocolOffer::GO_COMPATIBLE.features,
        );
        let negotiated = ours.negotiated().unwrap();
        assert!(!negotiated.features.contains(Features::FLOW_CONTROL));
        assert_eq!(ours.send_credit(0), None);
        ours.send_large(0, &vec![7u8; 100 * 1024]).unwrap();
        let packets = drain(&peer);
        assert_eq!(packets.len(), 1, "{packets:?}");
        let chunk = ConnCopy::decode(&packets[0]).unwrap();
        assert_eq!(chunk.size, 100 * 1024);
        // And a ConnCredit from it is refused, as any packet out of turn.
        let credit = ConnCredit {
            connection: 0,
            limit: 1 << 17,
        };
        peer.send_packet(credit.encode(), &[]).unwrap();
        let _ = ours.recv_request_until(Instant::now() + Duration::from_millis(100));
        assert_eq!(ours.stats().credit_errors, 1);
    });
}

#[test]
fn with_flow_control_chunks_fit_the_initial_credit() {
    with_watchdog(LIMIT, || {
        let (ours, peer) =
            negotiated_with_raw_peer(flow_config(1 << 20), 128 * 1024, flow_features());
        let credit = ConnCredit {
            connection: 0,
            limit: 100 * 1024,
        };
        peer.send_packet(credit.encode(), &[]).unwrap();
        ours.send_large(0, &vec![7u8; 100 * 1024]).unwrap();
        let sizes: Vec<u64> = drain(&peer)
            .iter()
            .filter_map(|p| ConnCopy::decode(p).ok())
            .map(|c| c.size)
            .collect();
        assert_eq!(sizes, [64 * 1024, 36 * 1024]);
        // The credit is used up, so another message waits for credit
        // (until its deadline: the peer grants no more).
        let credit = ours.send_credit(0).unwrap();
        assert_eq!((credit.sent, credit.limit), (100 * 1024, 100 * 1024));
        let deadline = Instant::now() + Duration::from_millis(50);
        assert_eq!(
            ours.send_large_until(0, b"more", deadline),
            Err(SendLargeError::Transport(TransportError::TimedOut))
        );
        assert!(ours.stats().credit_stalls > 0);
        assert_eq!(ours.send_credit(0).unwrap().sent, 100 * 1024);
    });
}
