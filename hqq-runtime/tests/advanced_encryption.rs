//! Encryption on the Advanced link: the handshake (pre-shared key and
//! static keys), typed failures for wrong keys and other patterns, sealed
//! bytes in the segment, and a writer of the segment that changes a byte,
//! replays a message or injects a plain one: each refused and counted, and
//! the next good message still arrives. Encryption with compression, and a
//! peer that never asks for encryption (as the Go implementation), between
//! two processes (this test binary re-runs itself as the peer, see
//! `support/mod.rs`).

mod advanced;
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use advanced::tampering::Tampering;
use advanced::{
    check_required_encryption, dial, link_config, standard_pair, with_watchdog, Outcomes,
};
use hqq_runtime::advanced::{
    AcceptNegotiationError, AdvancedConfig, AdvancedLink, Codec, HandshakeError, Keys,
    NegotiateError, ProtocolOffer, RecvLargeError, TransportError,
};
use hqq_runtime::link::StandardLink;
use hqq_runtime::protocol::{Cipher, ErrorCode, Features, HandshakePattern, OpCode};
use hqq_runtime::Packet;
use support::{child_env, unique_segment_name, Child};

const SLOTS: u64 = 64;
const BUFFER: u64 = 4096;
const LIMIT: Duration = Duration::from_secs(60);
const PSK: [u8; 32] = [0x5C; 32];

fn base() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(20),
        ..AdvancedConfig::default()
    }
}

fn sealed() -> AdvancedConfig {
    base().encryption(Keys::pre_shared(PSK))
}

/// JSON-like text (compresses well, and is easy to look for).
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        let line = format!("{{\"id\":{i},\"secret\":\"s{}\"}},\n", i % 97);
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Two negotiated ends; the primary sends through a [`Tampering`] end.
fn tampered_pair(
    primary: AdvancedConfig,
    secondary: AdvancedConfig,
) -> (AdvancedLink<Tampering>, AdvancedLink) {
    let (a, b) = standard_pair(SLOTS, BUFFER);
    let a = AdvancedLink::new(Tampering::new(a), primary);
    let b = AdvancedLink::new(b, secondary);
    std::thread::scope(|s| {
        let acceptor = s.spawn(|| b.wait_for_negotiation().unwrap());
        a.negotiate(primary.offer).unwrap();
        acceptor.join().unwrap();
    });
    (a, b)
}

/// Negotiates two fresh ends configured `a` and `b`; both outcomes.
fn negotiate(a: AdvancedConfig, b: AdvancedConfig) -> Outcomes {
    let (x, y) = standard_pair(SLOTS, BUFFER);
    let (x, y) = (AdvancedLink::new(x, a), AdvancedLink::new(y, b));
    std::thread::scope(|s| {
        let acceptor = s.spawn(|| y.wait_for_negotiation_until(Instant::now() + LIMIT / 4));
        let initiated = x.negotiate_until(a.offer, Instant::now() + LIMIT / 4);
        (initiated, acceptor.join().unwrap())
    })
}

/// The acceptor of `negotiated` failed the handshake with `error`, and the
/// initiator was refused with HandshakeFailed.
#[track_caller]
fn assert_handshake_refused((initiated, accepted): Outcomes, error: HandshakeError) {
    assert_eq!(
        accepted.unwrap_err(),
        AcceptNegotiationError::Handshake(error)
    );
    assert_eq!(
        initiated.unwrap_err(),
        NegotiateError::Handshake(HandshakeError::Refused(ErrorCode::HandshakeFailed))
    );
}

#[test]
fn pre_shared_key_seals_messages_calls_and_responses() {
    with_watchdog(LIMIT, || {
        let (a, b) = tampered_pair(sealed(), sealed());
        assert!(a
            .negotiated()
            .unwrap()
            .features
            .contains(Features::ENCRYPTION));
        let message = text(100_000);
        a.send_large(0, &message).unwrap();
        assert_eq!(b.recv_large(0).unwrap().data, message);
        std::thread::scope(|s| {
            s.spawn(|| {
                let request = b.recv_request().unwrap();
                assert_eq!(request.method, 7);
                b.respond_error(&request, 42, &request.data).unwrap();
            });
            let response = a.call(7, b"ping").unwrap();
            assert_eq!((response.status, response.error), (42, true));
            assert_eq!(response.data, b"ping");
        });
        // What sat in the segment: sealed, not the text.
        let wire: Vec<u8> = a
            .transport()
            .chunks()
            .into_iter()
            .flat_map(|c| c.1)
            .collect();
        let needle = &message[1000..1032];
        assert!(!wire.windows(needle.len()).any(|w| w == needle));
        assert_eq!(wire.len(), 100_000 + 8 + 2 * 16 + 4 + 8 + 16);
        let (sa, sb) = (a.stats(), b.stats());
        assert_eq!(sa.encrypted_bytes, 100_004);
        assert_eq!(sb.decrypted_bytes, 100_004);
        assert_eq!(sa.decrypted_bytes, 4);
        assert_eq!(sb.authentication_failures + sb.replays_refused, 0);
    });
}

#[test]
fn static_keys_run_the_kk_handshake() {
    with_watchdog(LIMIT, || {
        let (a_private, a_public) = Keys::generate_key_pair().unwrap();
        let (b_private, b_public) = Keys::generate_key_pair().unwrap();
        let a = base().encryption(Keys::static_keys(a_private, b_public));
        let b = base().encryption(Keys::static_keys(b_private, a_public));
        let (x, y) = tampered_pair(a, b);
        x.send_large(0, b"kk").unwrap();
        assert_eq!(y.recv_large(0).unwrap().data, b"kk");
        assert_eq!(y.stats().decrypted_bytes, 2);

        // A side that trusts another public key fails the handshake.
        let (_, other_public) = Keys::generate_key_pair().unwrap();
        let wrong = base().encryption(Keys::static_keys(b_private, other_public));
        assert_handshake_refused(negotiate(a, wrong), HandshakeError::Failed);
    });
}

#[test]
fn the_two_sides_agree_on_a_cipher_or_fail_typed() {
    with_watchdog(LIMIT, || {
        let (a, b) = tampered_pair(sealed(), sealed());
        assert!(a.cipher().is_some());
        assert_eq!(a.cipher(), b.cipher());
        for (x, y, agreed) in [
            (
                Some(Cipher::ChaCha20Poly1305),
                None,
                Cipher::ChaCha20Poly1305,
            ),
            (
                None,
                Some(Cipher::ChaCha20Poly1305),
                Cipher::ChaCha20Poly1305,
            ),
            (
                Some(Cipher::Aes256Gcm),
                Some(Cipher::Aes256Gcm),
                Cipher::Aes256Gcm,
            ),
        ] {
            let config = |only: Option<Cipher>| AdvancedConfig {
                cipher: only,
                ..sealed()
            };
            let (a, b) = tampered_pair(config(x), config(y));
            assert_eq!((a.cipher(), b.cipher()), (Some(agreed), Some(agreed)));
            a.send_large(0, b"agreed").unwrap();
            assert_eq!(b.recv_large(0).unwrap().data, b"agreed");
            assert_eq!(b.stats().authentication_failures, 0);
        }
        assert_handshake_refused(
            negotiate(
                sealed().cipher(Cipher::Aes256Gcm),
                sealed().cipher(Cipher::ChaCha20Poly1305),
            ),
            HandshakeError::NoCommonCipher,
        );
    });
}

#[test]
fn a_wrong_key_or_another_pattern_is_a_typed_error_on_both_sides() {
    with_watchdog(LIMIT, || {
        let other = base().encryption(Keys::pre_shared([0x11; 32]));
        assert_handshake_refused(negotiate(sealed(), other), HandshakeError::Failed);

        let (_, public) = Keys::generate_key_pair().unwrap();
        let kk = base().encryption(Keys::static_keys([3; 32], public));
        let (initiated, accepted) = negotiate(sealed(), kk);
        assert_eq!(
            accepted.unwrap_err(),
            AcceptNegotiationError::Handshake(HandshakeError::PatternMismatch {
                own: HandshakePattern::KK,
                peer: HandshakePattern::NNpsk0,
            })
        );
        assert!(matches!(
            initiated.unwrap_err(),
            NegotiateError::Handshake(HandshakeError::Refused(_))
        ));
    });
}

#[test]
fn a_changed_byte_in_the_segment_is_refused_and_the_next_message_arrives() {
    with_watchdog(LIMIT, || {
        let (a, b) = tampered_pair(sealed(), sealed());
        a.transport().flip_next.store(true, Ordering::SeqCst);
        a.send_large(0, &text(20_000)).unwrap();
        a.send_large(0, b"good").unwrap();
        assert_eq!(b.recv_large(0).unwrap().data, b"good");
        let stats = b.stats();
        assert_eq!(stats.authentication_failures, 1);
        assert_eq!(stats.held_bytes, 0);
        assert_eq!(stats.messages_received, 1);

        // Streamed: the changed message ends Aborted, the next one arrives.
        a.transport().flip_next.store(true, Ordering::SeqCst);
        b.set_streaming(0, true);
        std::thread::scope(|s| {
            s.spawn(|| {
                a.send_large(0, &text(200_000)).unwrap();
                a.send_large(0, &text(150_000)).unwrap();
            });
            let mut got = Vec::new();
            let mut sink = |offset: u64, data: &[u8]| {
                assert_eq!(offset, got.len() as u64);
                got.extend_from_slice(data);
            };
            assert!(matches!(
                b.recv_stream(0, &mut sink),
                Err(RecvLargeError::Aborted(_))
            ));
            got.clear();
            let mut sink = |offset: u64, data: &[u8]| {
                assert_eq!(offset, got.len() as u64);
                got.extend_from_slice(data);
            };
            let (_, total) = b.recv_stream(0, &mut sink).unwrap();
            assert_eq!(total, 150_000);
            assert_eq!(got, text(150_000));
        });
        assert_eq!(b.stats().authentication_failures, 2);
    });
}

#[test]
fn a_changed_or_replayed_message_of_one_chunk_is_refused() {
    with_watchdog(LIMIT, || {
        // 64 bytes seal into 88 (seq, frame, tag), one chunk: sealed whole
        // on the sending side and opened whole on the receiving side.
        let (a, b) = tampered_pair(sealed(), sealed());
        let short = text(64);
        let places = [0u64, 8, 40, 71, 72, 87];
        for (i, at) in places.into_iter().enumerate() {
            a.transport().flip_offset.store(at, Ordering::SeqCst);
            a.send_large(0, &short).unwrap();
            a.send_large(0, b"good").unwrap();
            assert_eq!(b.recv_large(0).unwrap().data, b"good", "byte {at}");
            let stats = b.stats();
            // A changed seq may name an accepted one: refused either way.
            let refused = stats.authentication_failures + stats.replays_refused;
            assert_eq!(refused, i as u64 + 1, "byte {at}");
        }
        a.transport().forget();
        a.send_large(0, &short).unwrap();
        assert_eq!(b.recv_large(0).unwrap().data, short);
        let before = b.stats();
        for (packet, bytes) in a.transport().chunks() {
            a.transport().raw(packet, &bytes);
        }
        a.send_large(0, b"after").unwrap();
        assert_eq!(b.recv_large(0).unwrap().data, b"after");
        let stats = b.stats();
        assert_eq!(stats.replays_refused, before.replays_refused + 1);
        assert_eq!(stats.messages_received, places.len() as u64 + 2);
        assert_eq!(stats.decrypted_bytes, 4 * places.len() as u64 + 64 + 5);
        assert_eq!(stats.held_bytes, 0);
    });
}

#[test]
fn a_changed_middle_frame_refuses_the_whole_message_and_the_next_arrives() {
    with_watchdog(LIMIT, || {
        let (a, b) = tampered_pair(sealed(), sealed());
        // 320,000 bytes seal into five frames, each opened as its chunks
        // arrive: offset 100,000 is in the second, which fails long
        // before the last chunk.
        a.transport().flip_offset.store(100_000, Ordering::SeqCst);
        let after = text(70_000);
        std::thread::scope(|s| {
            // More than the ring holds: sent while the other side receives.
            s.spawn(|| {
                a.send_large(0, &text(320_000)).unwrap();
                a.send_large(0, &after).unwrap();
            });
            assert_eq!(b.recv_large(0).unwrap().data, after);
        });
        let stats = b.stats();
        assert_eq!(a.transport().flip_offset.load(Ordering::SeqCst), u64::MAX);
        assert_eq!(stats.authentication_failures, 1);
        assert_eq!(stats.messages_received, 1);
        assert_eq!(stats.decrypted_bytes, 70_000);
        assert_eq!(stats.held_bytes, 0);
    });
}

#[test]
fn a_replayed_message_is_refused_and_the_next_message_arrives() {
    with_watchdog(LIMIT, || {
        let (a, b) = tampered_pair(sealed(), sealed());
        let first = text(10_000);
        a.send_large(0, &first).unwrap();
        assert_eq!(b.recv_large(0).unwrap().data, first);
        // The writer copies the message's chunks back into the ring.
        for (packet, bytes) in a.transport().chunks() {
            a.transport().raw(packet, &bytes);
        }
        a.send_large(0, b"after").unwrap();
        assert_eq!(b.recv_large(0).unwrap().data, b"after");
        let stats = b.stats();
        assert_eq!(stats.replays_refused, 1);
        assert_eq!(stats.authentication_failures, 0);
        assert_eq!(stats.messages_received, 2);
        assert_eq!(stats.held_bytes, 0);
    });
}

#[test]
fn chunks_moved_between_messages_or_injected_plain_are_refused() {
    with_watchdog(LIMIT, || {
        let (a, b) = tampered_pair(sealed(), sealed());
        a.send_large(0, &text(9000)).unwrap();
        assert_eq!(b.recv_large(0).unwrap().data.len(), 9000);
        let chunks = a.transport().chunks();
        a.transport().forget();
        // The same chunks under another message id, with a sequence number
        // never used (the used one would be refused as a replay).
        for (packet, bytes) in &chunks {
            let mut words = [0u64; 7];
            for (i, word) in words.iter_mut().enumerate() {
                *word = packet.operand(i);
            }
            words[1] = 999;
            let mut bytes = bytes.clone();
            if words[3] == 0 {
                bytes[..8].copy_from_slice(&777u64.to_le_bytes());
            }
            a.transport().raw(Packet::new(0x04, words), &bytes);
        }
        // A plain message where a sealed one is due.
        a.transport()
            .raw(Packet::new(0x04, [0, 1000, 5, 0, 5, 3, 0]), b"plain");
        a.send_large(0, b"still fine").unwrap();
        assert_eq!(b.recv_large(0).unwrap().data, b"still fine");
        let stats = b.stats();
        assert_eq!(stats.authentication_failures, 2);
        assert_eq!(stats.replays_refused, 0);
        assert_eq!(stats.held_bytes, 0);
    });
}

#[test]
fn encryption_and_compression_together_compress_first() {
    with_watchdog(LIMIT, || {
        let both = sealed().compression(Codec::Lz4, 1024);
        let (a, b) = tampered_pair(both, both);
        let features = a.negotiated().unwrap().features;
        assert!(features.contains(Features::ENCRYPTION | Features::COMPRESSION));
        let message = text(1 << 20);
        a.send_large(0, &message).unwrap();
        assert_eq!(b.recv_large(0).unwrap().data, message);
        let (sa, sb) = (a.stats(), b.stats());
        // What was sealed is the compressed form.
        assert_eq!(sa.compression_input_bytes, 1 << 20);
        assert_eq!(sa.encrypted_bytes, sa.compression_output_bytes);
        assert!(sa.encrypted_bytes * 3 < 1 << 20);
        assert_eq!(sb.decrypted_bytes, sa.compression_output_bytes);
        assert_eq!(sb.decompressed_bytes, 1 << 20);
        assert!(sb.decompression_time > Duration::ZERO);
        assert!(sb.decryption_time > Duration::ZERO);
        assert!(sa.encryption_time > Duration::ZERO);

        b.set_streaming(0, true);
        a.send_large(0, &message).unwrap();
        let mut got = Vec::new();
        let (_, total) = b
            .recv_stream(0, &mut |offset, data| {
                assert_eq!(offset, got.len() as u64);
                got.extend_from_slice(data);
            })
            .unwrap();
        assert_eq!(got, message);
        assert_eq!(total, 1 << 20);
        assert_eq!(b.stats().held_bytes, 0);
    });
}

#[test]
fn required_encryption_refuses_a_peer_that_does_not_ask() {
    with_watchdog(LIMIT, || {
        check_required_encryption(base(), Keys::pre_shared(PSK), negotiate);
    });
}

#[test]
fn hostile_handshakes_are_typed_errors_within_the_deadline() {
    with_watchdog(LIMIT, || {
        let ask = Features::LARGE_COPY | Features::ENCRYPTION;
        let negotiate_raw = |peer: &StandardLink| {
            let request = Packet::new(0x05, [0x101, ask.bits(), 7, 0, 0, 0, 0]);
            peer.send_packet(request, &[]).unwrap();
        };

        // A peer that asks for encryption but has no keys never answers.
        let (ours, peer) = standard_pair(SLOTS, BUFFER);
        let ours = AdvancedLink::new(ours, sealed());
        negotiate_raw(&peer);
        let got = ours.wait_for_negotiation_until(Instant::now() + Duration::from_millis(300));
        assert_eq!(
            got.unwrap_err(),
            AcceptNegotiationError::Transport(TransportError::TimedOut)
        );

        // Step 2 where step 1 is due: out of turn, answered with an Error.
        let (ours, peer) = standard_pair(SLOTS, BUFFER);
        let ours = AdvancedLink::new(ours, sealed());
        negotiate_raw(&peer);
        let got = std::thread::scope(|s| {
            let acceptor = s.spawn(|| ours.wait_for_negotiation());
            // Step 2 only once the ack says the acceptor waits for step 1.
            let ack = peer.recv_packet().unwrap().packet();
            assert_eq!(ack.opcode(), OpCode::ProtoAck.code());
            let step2 = Packet::new(0x08, [2, 1, 48, 0, 0, 0, 0]);
            peer.send_packet(step2, &[0; 48]).unwrap();
            acceptor.join().unwrap()
        });
        assert_eq!(
            got.unwrap_err(),
            AcceptNegotiationError::Handshake(HandshakeError::OutOfTurn)
        );
        let error = peer.recv_packet().unwrap().packet();
        assert_eq!(error.opcode(), OpCode::Error.code());
        assert_eq!(error.operand(1), ErrorCode::HandshakeFailed as u64);

        // A handshake packet on a link that finished its handshake is
        // refused and counted; the link goes on.
        let (a, b) = tampered_pair(sealed(), sealed());
        let before = b.stats().errors;
        a.transport()
            .raw(Packet::new(0x08, [1, 1, 48, 0, 0, 0, 0]), &[0; 48]);
        a.send_large(0, b"on").unwrap();
        assert_eq!(b.recv_large(0).unwrap().data, b"on");
        assert_eq!(b.stats().errors, before + 1);
    });
}

fn both() -> AdvancedConfig {
    sealed().compression(Codec::Lz4, 1024)
}

/// The child: configured as the parent's `HQQ_OFFER` says (ours: keys and
/// compression; go: the Go implementation's offer, no keys), receives a
/// message, serves an echo call on a connection and a streamed message.
#[test]
fn encryption_peer() {
    let Some(env) = child_env("encryption_peer") else {
        return;
    };
    let name = env.var("HQQ_SEGMENT");
    let config = if env.var("HQQ_OFFER") == "go" {
        AdvancedConfig {
            offer: ProtocolOffer::GO_COMPATIBLE,
            ..base()
        }
    } else {
        both()
    };
    let link = AdvancedLink::open(&name, &link_config(SLOTS, BUFFER), config).unwrap();
    let negotiated = link.wait_for_negotiation().unwrap();
    env.report("features", negotiated.features.bits());
    env.report("cipher", link.cipher().map_or(0, Cipher::value));
    assert_eq!(link.recv_large(0).unwrap().data, text(1 << 20));
    link.listen().unwrap();
    let connection = link.accept().unwrap();
    let request = link.recv_request().unwrap();
    link.set_streaming(connection, true);
    link.respond(&request, &request.data).unwrap();
    let mut got = Vec::new();
    link.recv_stream(connection, &mut |_, data| got.extend_from_slice(data))
        .unwrap();
    assert_eq!(got, text(300_000));
    let request = link.recv_request().unwrap();
    link.respond(&request, b"bye").unwrap();
    let stats = link.stats();
    env.report("decrypted", stats.decrypted_bytes);
    env.report("encrypted", stats.encrypted_bytes);
    env.report(
        "failures",
        stats.authentication_failures + stats.replays_refused,
    );
}

fn run_parent(offer: &str) -> (Features, AdvancedLink, support::ChildOutput) {
    let name = unique_segment_name("adve");
    let link = AdvancedLink::create(&name, &link_config(SLOTS, BUFFER), both()).unwrap();
    let child = Child::spawn(
        "encryption_peer",
        &[("HQQ_SEGMENT", &name), ("HQQ_OFFER", offer)],
    );
    let features = link.negotiate(both().offer).unwrap().features;
    link.send_large(0, &text(1 << 20)).unwrap();
    let connection = dial(&link);
    let request = text(50_000);
    assert_eq!(link.call_on(connection, 1, &request).unwrap().data, request);
    link.send_large(connection, &text(300_000)).unwrap();
    assert_eq!(link.call_on(connection, 0, b"").unwrap().data, b"bye");
    let output = child.wait(Duration::from_secs(60));
    output.assert_success();
    (features, link, output)
}

#[test]
fn sealed_and_compressed_across_processes() {
    let (features, link, output) = run_parent("ours");
    assert!(features.contains(Features::ENCRYPTION | Features::COMPRESSION));
    let child_features: u64 = output.report("features");
    assert_eq!(child_features, features.bits());
    let cipher: u64 = output.report("cipher");
    assert_eq!(Some(cipher), link.cipher().map(Cipher::value));
    let stats = link.stats();
    let decrypted: u64 = output.report("decrypted");
    assert_eq!(decrypted, stats.encrypted_bytes);
    let encrypted: u64 = output.report("encrypted");
    assert_eq!(encrypted, stats.decrypted_bytes);
    assert!(encrypted > 0);
    let failures: u64 = output.report("failures");
    assert_eq!(failures, 0);
}

#[test]
fn a_go_style_peer_without_keys_gets_a_plain_link_across_processes() {
    let (features, link, output) = run_parent("go");
    assert_eq!(features, Features::LARGE_COPY | Features::REQUEST_RESPONSE);
    let child_features: u64 = output.report("features");
    assert_eq!(child_features, 3);
    let cipher: u64 = output.report("cipher");
    assert_eq!((cipher, link.cipher()), (0, None));
    let stats = link.stats();
    assert_eq!(stats.encrypted_bytes, 0);
    assert_eq!(stats.decrypted_bytes, 0);
    let decrypted: u64 = output.report("decrypted");
    assert_eq!(decrypted, 0);
}
