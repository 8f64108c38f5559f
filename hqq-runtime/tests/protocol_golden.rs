//! Our encoding of core packets equals the bytes the established Go
//! implementation wrote into the golden segment images (wire-compat.md).

use hqq_runtime::codec::{Limits, PacketCodec, Version};
use hqq_runtime::packet::PACKET_SIZE;
use hqq_runtime::protocol::{
    Capabilities, ConnCopy, Features, FrameFlags, Message, ProtoNegotiate, StandardLinkCopy,
};
use hqq_runtime::Packet;

/// Ring 0 starts one page in; its slots start 256 bytes into the ring, each
/// 72 bytes (64 packet bytes and the sequence number).
const RING0_SLOTS: usize = 4096 + 256;
const SLOT_STRIDE: usize = 72;

fn golden(name: &str) -> Vec<u8> {
    let path = format!("{}/../tests/data/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The 64 packet bytes of ring 0 slot `slot` in `image`.
fn ring0_packet(image: &[u8], slot: usize) -> [u8; PACKET_SIZE] {
    let at = RING0_SLOTS + slot * SLOT_STRIDE;
    image[at..at + PACKET_SIZE].try_into().expect("64 bytes")
}

#[test]
fn standard_link_copy_of_hello_matches_go() {
    let image = golden("std-4x64-2-primary-wrote-hello.bin");
    let bytes = ring0_packet(&image, 0);
    let copy = StandardLinkCopy {
        copy: 1,
        buffer_index: 0,
        size: 5,
    };
    assert_eq!(copy.encode().to_bytes(), bytes);
    assert_eq!(
        StandardLinkCopy::decode(&Packet::from_bytes(&bytes)),
        Ok(copy)
    );
    assert_eq!(copy.validate(&Limits::new(4, 64)), Ok(()));
}

#[test]
fn proto_negotiate_matches_go() {
    let image = golden("adv-8x64-1-negotiated.bin");
    let bytes = ring0_packet(&image, 0);
    let negotiate = ProtoNegotiate {
        version: Version::new(1, 0),
        features: Features::LARGE_COPY | Features::REQUEST_RESPONSE,
        capabilities: Capabilities::LARGE_BUFFERS
            | Capabilities::HIGH_THROUGHPUT
            | Capabilities::LOW_LATENCY,
    };
    assert_eq!(negotiate.features.bits(), 3);
    assert_eq!(negotiate.capabilities.bits(), 7);
    assert_eq!(negotiate.encode().to_bytes(), bytes);
    assert_eq!(
        Message::decode(&Packet::from_bytes(&bytes)),
        Ok(Message::ProtoNegotiate(negotiate))
    );
}

#[test]
fn conn_copy_chunks_of_a_150_byte_message_match_go() {
    let image = golden("adv-8x64-2-sent-large-150.bin");
    let chunks = [
        (1, 0, 64, FrameFlags::BEGIN),
        (2, 64, 64, FrameFlags::empty()),
        (3, 128, 22, FrameFlags::END),
    ];
    let limits = Limits::new(8, 64);
    for (slot, offset, size, chunk_flags) in chunks {
        let bytes = ring0_packet(&image, slot);
        let chunk = ConnCopy {
            connection: 0,
            message: 1,
            total: 150,
            offset,
            size,
            chunk_flags,
            method_or_status: 0,
        };
        assert_eq!(chunk.encode().to_bytes(), bytes, "slot {slot}");
        assert_eq!(
            ConnCopy::decode(&Packet::from_bytes(&bytes)),
            Ok(chunk),
            "slot {slot}"
        );
        assert_eq!(chunk.validate(&limits), Ok(()), "slot {slot}");
    }
}
