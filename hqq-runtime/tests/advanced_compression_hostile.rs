//! Compressed messages from a hostile peer, both ends in this process: a
//! raw Standard link plays the peer and sends decompression bombs, garbage,
//! truncated frames and compressed messages nobody negotiated. Each is a
//! typed, counted refusal within the limits, and later good messages still
//! arrive.

mod advanced;

use std::time::Duration;

use advanced::{standard_pair, with_watchdog};
use hqq_runtime::advanced::{
    AdvancedConfig, AdvancedLink, Codec, ReassemblyLimits, RecvLargeError,
};
use hqq_runtime::link::StandardLink;
use hqq_runtime::protocol::{Features, OpCode};
use hqq_runtime::Packet;

const LIMIT: Duration = Duration::from_secs(60);
const BUFFER: u64 = 4096;
const MAX_MESSAGE: u64 = 16 << 20;
const FRAME: usize = 64 * 1024;
const BEGIN: u64 = 1;
const END: u64 = 2;
const COMPRESSED: u64 = 1 << 6;

fn config() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(20),
        reassembly: ReassemblyLimits {
            max_message_size: MAX_MESSAGE,
            ..ReassemblyLimits::default()
        },
        ..AdvancedConfig::default()
    }
    .compression(Codec::Lz4, 1024)
}

/// `ours` negotiated with a raw `peer` that asked for `features`.
fn negotiated_with_raw_peer(features: Features) -> (AdvancedLink, StandardLink) {
    let (ours, peer) = standard_pair(64, BUFFER);
    let ours = AdvancedLink::new(ours, config());
    let request = Packet::new(0x05, [0x101, features.bits(), 7, 0, 0, 0, 0]);
    peer.send_packet(request, &[]).unwrap();
    ours.wait_for_negotiation().unwrap();
    assert_eq!(
        peer.recv_packet().unwrap().packet().opcode(),
        OpCode::ProtoAck.code()
    );
    (ours, peer)
}

fn compressing_peer() -> (AdvancedLink, StandardLink) {
    let all = Features::LARGE_COPY | Features::REQUEST_RESPONSE | Features::COMPRESSION;
    let (ours, peer) = negotiated_with_raw_peer(all);
    assert!(ours
        .negotiated()
        .unwrap()
        .features
        .contains(Features::COMPRESSION));
    (ours, peer)
}

/// A frame of `raw`, LZ4-compressed.
fn frame(raw: &[u8]) -> Vec<u8> {
    let block = lz4_flex::block::compress(raw);
    let mut out = Vec::new();
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&(block.len() as u32).to_le_bytes());
    out.extend_from_slice(&block);
    out
}

/// Sends `bytes` as message `message` on connection 0, one buffer a chunk,
/// with `extra` flags on every chunk.
fn send(peer: &StandardLink, message: u64, bytes: &[u8], extra: u64) {
    let total = bytes.len() as u64;
    let mut offset = 0u64;
    loop {
        let size = (total - offset).min(BUFFER);
        let mut flags = extra;
        if offset == 0 {
            flags |= BEGIN;
        }
        if offset + size == total {
            flags |= END;
        }
        let chunk = Packet::new(0x04, [0, message, total, offset, size, flags, 0]);
        let data = &bytes[offset as usize..(offset + size) as usize];
        peer.send_packet(chunk, data).unwrap();
        offset += size;
        if offset == total {
            return;
        }
    }
}

/// Frames of 64 KiB of zeros, `count` of them: about 270 bytes each on
/// the wire, 64 KiB each decompressed.
fn bomb(count: usize) -> Vec<u8> {
    let one = frame(&[0; FRAME]);
    let mut out = Vec::with_capacity(one.len() * count);
    for _ in 0..count {
        out.extend_from_slice(&one);
    }
    out
}

fn good() -> Vec<u8> {
    b"a good message after the bad ones, ".repeat(100)
}

/// The peer sends `bad` (compressed), then a good compressed message; ours
/// receives the good one whole and counts one failure.
fn refused_then_good(ours: &AdvancedLink, peer: &StandardLink, bad: &[u8]) {
    let before = ours.stats();
    std::thread::scope(|s| {
        s.spawn(|| {
            send(peer, 1, bad, COMPRESSED);
            send(peer, 2, &frame(&good()), COMPRESSED);
        });
        let got = ours.recv_large(0).unwrap();
        assert_eq!((got.message, got.data), (2, good()));
    });
    let stats = ours.stats();
    assert_eq!(
        stats.decompression_failures,
        before.decompression_failures + 1,
        "{stats:?}"
    );
    assert!(stats.errors > before.errors);
    assert_eq!((stats.held_bytes, stats.held_entries), (0, 0));
}

#[test]
fn a_bomb_producing_gigabytes_is_refused_at_the_message_limit() {
    with_watchdog(LIMIT, || {
        let (ours, peer) = compressing_peer();
        // 16384 frames: 4.4 MB on the wire, 1 GiB decompressed.
        let bomb = bomb(16 * 1024);
        assert!((bomb.len() as u64) < MAX_MESSAGE / 2);
        refused_then_good(&ours, &peer, &bomb);
        assert!(ours.stats().decompressed_bytes < MAX_MESSAGE);
    });
}

#[test]
fn a_frame_announcing_gigabytes_is_refused_before_allocating() {
    with_watchdog(LIMIT, || {
        let (ours, peer) = compressing_peer();
        let mut bad = Vec::new();
        bad.extend_from_slice(&u32::MAX.to_le_bytes());
        bad.extend_from_slice(&64u32.to_le_bytes());
        bad.extend_from_slice(&[0; 64]);
        refused_then_good(&ours, &peer, &bad);
        assert_eq!(ours.stats().decompressed_bytes, good().len() as u64);
    });
}

#[test]
fn garbage_and_truncated_frames_are_refused() {
    with_watchdog(LIMIT, || {
        let (ours, peer) = compressing_peer();
        let text = b"{\"key\":\"value\",\"n\":12345},".repeat(4000);
        let whole = frame(&text[..FRAME]);
        // Truncated: the message ends inside the frame.
        refused_then_good(&ours, &peer, &whole[..whole.len() - 10]);
        // Garbage: a valid header and a corrupted block.
        let mut garbage = whole.clone();
        for byte in garbage.iter_mut().skip(8).step_by(3) {
            *byte ^= 0xA5;
        }
        refused_then_good(&ours, &peer, &garbage);
        // A block that decompresses to less than its header says.
        let mut short = frame(&text[..1000]);
        short[..4].copy_from_slice(&2000u32.to_le_bytes());
        refused_then_good(&ours, &peer, &short);
    });
}

#[test]
fn a_streamed_bomb_aborts_the_stream_within_the_limit() {
    with_watchdog(LIMIT, || {
        let (ours, peer) = compressing_peer();
        ours.set_streaming(0, true);
        std::thread::scope(|s| {
            s.spawn(|| {
                send(&peer, 1, &bomb(16 * 1024), COMPRESSED);
                send(&peer, 2, &frame(&good()), COMPRESSED);
            });
            let mut streamed = 0u64;
            let first = ours.recv_stream(0, &mut |_, data| {
                assert!(data.iter().all(|&b| b == 0));
                streamed += data.len() as u64;
            });
            assert_eq!(first, Err(RecvLargeError::Aborted(1)));
            assert!(streamed <= MAX_MESSAGE);
            let mut got = Vec::new();
            let second = ours.recv_stream(0, &mut |_, data| got.extend_from_slice(data));
            assert_eq!(second, Ok((2, good().len() as u64)));
            assert_eq!(got, good());
        });
        let stats = ours.stats();
        assert_eq!(stats.decompression_failures, 1, "{stats:?}");
        assert_eq!((stats.held_bytes, stats.held_entries), (0, 0));
    });
}

#[test]
fn a_compressed_message_without_negotiation_is_refused() {
    with_watchdog(LIMIT, || {
        // A peer asking only for what the Go implementation asks.
        let (ours, peer) =
            negotiated_with_raw_peer(Features::LARGE_COPY | Features::REQUEST_RESPONSE);
        assert!(!ours
            .negotiated()
            .unwrap()
            .features
            .contains(Features::COMPRESSION));
        std::thread::scope(|s| {
            s.spawn(|| {
                send(&peer, 1, &frame(&good()), COMPRESSED);
                send(&peer, 2, &good(), 0);
            });
            let got = ours.recv_large(0).unwrap();
            assert_eq!((got.message, got.data), (2, good()));
        });
        assert_eq!(ours.stats().decompression_failures, 1);
    });
}
