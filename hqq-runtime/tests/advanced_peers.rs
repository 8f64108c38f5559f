//! The Advanced link against peers that misbehave or number things their
//! own way, both ends in this process: a raw Standard link plays the peer
//! (as the Go implementation would, or a hostile process).

mod advanced;
mod support;

use std::time::{Duration, Instant};

use advanced::{link_config, negotiated_pair, standard_pair, with_watchdog};
use hqq_runtime::advanced::{
    AcceptError, AdvancedConfig, AdvancedLink, AdvancedOpenError, ReassemblyLimits, RecvLargeError,
    RecvRequestError, TransportError,
};
use hqq_runtime::codec::PacketCodec;
use hqq_runtime::link::StandardLink;
use hqq_runtime::protocol::{ConnAccept, ConnCreate, Error, ErrorCode, OpCode};
use hqq_runtime::Packet;

const LIMIT: Duration = Duration::from_secs(60);

/// A long default deadline, so that a call that waited on work for others
/// (the old 10 s reply deadline) would stand out from its own short one.
fn patient() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(30),
        ..AdvancedConfig::default()
    }
}

/// `ours` (an Advanced link) negotiated with `peer` (raw packets), which
/// drained the ack.
fn negotiated_with_raw_peer(config: AdvancedConfig) -> (AdvancedLink, StandardLink) {
    let (ours, peer) = standard_pair(8, 64);
    let ours = AdvancedLink::new(ours, config);
    peer.send_packet(Packet::new(0x05, [0x100, 3, 7, 0, 0, 0, 0]), &[])
        .unwrap();
    ours.wait_for_negotiation().unwrap();
    assert_eq!(
        peer.recv_packet().unwrap().packet().opcode(),
        OpCode::ProtoAck.code()
    );
    (ours, peer)
}

/// The next packet the raw peer receives, as an Error packet.
fn next_error(peer: &StandardLink) -> Error {
    let packet = peer
        .recv_packet_timeout(Duration::from_secs(5))
        .unwrap()
        .packet();
    Error::decode(&packet).unwrap()
}

#[test]
fn a_peer_that_never_drains_does_not_hold_up_our_calls() {
    with_watchdog(LIMIT, || {
        let (ours, peer) = negotiated_with_raw_peer(patient());
        peer.set_write_timeout(Some(Duration::from_secs(5)));
        // The peer floods ConnCreate (nobody listens here, so each earns an
        // Error answer) and never receives: our answers fill its ring.
        let flood = std::thread::scope(|s| {
            let flooder = s.spawn(|| {
                let mut sent = 0u64;
                for connection in 1..=400 {
                    let create = ConnCreate {
                        connection,
                        stream_flags: 0,
                    };
                    if peer.send_packet(create.encode(), &[]).is_ok() {
                        sent += 1;
                    }
                }
                sent
            });
            // Meanwhile our calls keep their own short deadlines.
            let mut longest = Duration::ZERO;
            while !flooder.is_finished() {
                let started = Instant::now();
                let outcome = ours.recv_request_until(started + Duration::from_millis(20));
                assert_eq!(
                    outcome.unwrap_err(),
                    RecvRequestError::Transport(TransportError::TimedOut)
                );
                longest = longest.max(started.elapsed());
            }
            (flooder.join().unwrap(), longest)
        });
        let (sent, longest) = flood;
        assert_eq!(sent, 400, "the flood was received");
        // Far below the 30 s default deadline that a blocking reply would use.
        assert!(
            longest < Duration::from_secs(5),
            "a call waited {longest:?}"
        );
        let stats = ours.stats();
        assert!(stats.replies_dropped > 0, "{stats:?}");
        assert!(ours.try_accept().is_err());
        // A connection whose ConnAccept cannot reach the peer (its ring is
        // still full) is not left open here.
        ours.listen().unwrap();
        let create = ConnCreate {
            connection: 1000,
            stream_flags: 0,
        };
        peer.send_packet(create.encode(), &[]).unwrap();
        let accepted = ours.accept_until(Instant::now() + Duration::from_millis(200));
        assert_eq!(
            accepted,
            Err(AcceptError::Transport(TransportError::TimedOut))
        );
        assert!(!ours.is_open(1000));
        // The answers that fit arrived, in order.
        let first = next_error(&peer);
        assert_eq!((first.context, first.code), (1, ErrorCode::ConnNotFound));
    });
}

#[test]
fn the_go_flow_a_peer_dial_after_ours_is_accepted() {
    with_watchdog(LIMIT, || {
        let (ours, peer) = negotiated_with_raw_peer(patient());
        ours.listen().unwrap();
        // We dial; the peer (counting from 1, as Go does) accepts.
        let dialed = std::thread::scope(|s| {
            let dial = s.spawn(|| ours.dial());
            let create =
                ConnCreate::decode(&peer.recv_packet_timeout(LIMIT).unwrap().packet()).unwrap();
            peer.send_packet(
                ConnAccept {
                    connection: create.connection,
                }
                .encode(),
                &[],
            )
            .unwrap();
            dial.join().unwrap().unwrap()
        });
        // Then the peer dials its first connection, id 1.
        let create = ConnCreate {
            connection: 1,
            stream_flags: 0,
        };
        peer.send_packet(create.encode(), &[]).unwrap();
        assert_eq!(ours.accept().unwrap(), 1);
        let accept = ConnAccept::decode(&peer.recv_packet_timeout(LIMIT).unwrap().packet());
        assert_eq!(accept.unwrap().connection, 1);
        assert_ne!(dialed, 1);
        // Data flows on the peer's connection.
        let chunk = Packet::new(0x04, [1, 1, 2, 0, 2, 3, 0]);
        peer.send_packet(chunk, b"hi").unwrap();
        assert_eq!(ours.recv_large(1).unwrap().data, b"hi");
        // Data on a connection nobody opened is answered.
        peer.send_packet(Packet::new(0x04, [5, 1, 2, 0, 2, 3, 0]), b"no")
            .unwrap();
        assert!(ours.try_recv_large(1).is_err());
        let refused = next_error(&peer);
        assert_eq!(
            (refused.context, refused.code),
            (5, ErrorCode::ConnNotFound)
        );
        // The peer saying it does not know our connection closes it here.
        let not_found = Error {
            context: dialed,
            code: ErrorCode::ConnNotFound,
        };
        peer.send_packet(not_found.encode(), &[]).unwrap();
        assert_eq!(
            ours.recv_large(dialed).unwrap_err(),
            RecvLargeError::NotConnected(dialed)
        );
    });
}

#[test]
fn idle_partial_messages_expire_and_memory_follows_the_chunks() {
    with_watchdog(LIMIT, || {
        let config = AdvancedConfig {
            reassembly: ReassemblyLimits {
                partial_idle: Duration::from_millis(50),
                ..ReassemblyLimits::default()
            },
            ..patient()
        };
        let (ours, peer) = negotiated_with_raw_peer(config);
        // 64 Begin-only chunks announcing 64 MiB each, never finished.
        for message in 1..=64 {
            let begin = Packet::new(0x04, [0, message, 64 << 20, 0, 64, 1, 0]);
            peer.send_packet(begin, &[0; 64]).unwrap();
            // Receives it (and finds no whole message).
            assert!(ours.try_recv_large(0).is_err());
        }
        let held = ours.stats().held_bytes;
        assert!(
            held < 64 * 128 * 1024,
            "{held} bytes held for 64 partial messages"
        );
        // A message of two chunks after they went idle still arrives (its
        // Begin finds the partial table full and evicts them).
        std::thread::sleep(Duration::from_millis(100));
        peer.send_packet(Packet::new(0x04, [0, 100, 100, 0, 64, 1, 0]), &[7; 64])
            .unwrap();
        peer.send_packet(Packet::new(0x04, [0, 100, 100, 64, 36, 2, 0]), &[7; 36])
            .unwrap();
        assert_eq!(ours.recv_large(0).unwrap().data, [7; 100]);
        let stats = ours.stats();
        assert_eq!(stats.partials_evicted, 64, "{stats:?}");
        assert_eq!((stats.held_bytes, stats.held_entries), (0, 0));
    });
}

#[test]
fn a_second_advanced_endpoint_on_one_side_is_refused() {
    with_watchdog(LIMIT, || {
        let name = support::unique_segment_name("adv-side");
        let config = link_config(8, 64);
        let _primary = AdvancedLink::create(&name, &config, patient()).unwrap();
        let first = AdvancedLink::open(&name, &config, patient()).unwrap();
        match AdvancedLink::open(&name, &config, patient()) {
            Err(AdvancedOpenError::SideInUse { pid, .. }) => {
                assert_eq!(pid, u64::from(std::process::id()));
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a second secondary was let in"),
        }
        // Once the first one left, the side is free again.
        drop(first);
        AdvancedLink::open(&name, &config, patient()).unwrap();
    });
}

#[test]
fn dropping_a_link_closes_its_connections() {
    with_watchdog(LIMIT, || {
        let (client, server) = negotiated_pair(8, 64, patient());
        server.listen().unwrap();
        let (connection, accepted) = std::thread::scope(|s| {
            let accept = s.spawn(|| server.accept().unwrap());
            (client.dial().unwrap(), accept.join().unwrap())
        });
        assert_eq!(connection, accepted);
        drop(client);
        assert_eq!(
            server.recv_large(connection).unwrap_err(),
            RecvLargeError::NotConnected(connection)
        );
        assert!(server.closed_by_peer(connection));
    });
}
