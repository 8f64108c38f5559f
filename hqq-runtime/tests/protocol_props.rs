//! Property tests of the generated core protocol codecs: every opcode round
//! trips, and decoding any 64 bytes never panics.

use hqq_runtime::codec::{DecodeError, PacketCodec, Version};
use hqq_runtime::protocol::{
    Capabilities, ConnAccept, ConnClose, ConnCopy, ConnCreate, Error, ErrorCode, Features,
    FrameFlags, Message, OpCode, ProtoAck, ProtoNegotiate, StandardLinkCopy, StandardLinkTombstone,
};
use hqq_runtime::Packet;
use proptest::prelude::*;

/// Encodes `value`, decodes it back (directly and through `Message`) and
/// checks both give `value`.
fn round_trip<P>(value: P) -> Result<(), TestCaseError>
where
    P: PacketCodec + Copy + PartialEq + std::fmt::Debug + Into<Message>,
{
    let packet = value.encode();
    prop_assert_eq!(packet.opcode(), P::OPCODE);
    prop_assert_eq!(packet.reserved(), 0);
    prop_assert_eq!(P::decode(&packet), Ok(value));
    prop_assert_eq!(Message::decode(&packet), Ok(value.into()));
    prop_assert_eq!(Message::decode(&packet).map(|m| m.encode()), Ok(packet));
    Ok(())
}

fn version() -> impl Strategy<Value = Version> {
    (any::<u8>(), any::<u8>()).prop_map(|(major, minor)| Version::new(major, minor))
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    proptest::sample::select(ErrorCode::ALL.to_vec())
}

/// Frame flags that keep the set's rules.
fn frame_flags() -> impl Strategy<Value = FrameFlags> {
    any::<u64>().prop_map(|bits| {
        let mut f = FrameFlags::from_bits_truncate(bits);
        if f.contains(FrameFlags::REQUEST | FrameFlags::RESPONSE) {
            f -= FrameFlags::RESPONSE;
        }
        if f.contains(FrameFlags::ERROR) && !f.contains(FrameFlags::RESPONSE) {
            f -= FrameFlags::ERROR;
        }
        if f.contains(FrameFlags::ZSTD) && !f.contains(FrameFlags::COMPRESSED) {
            f -= FrameFlags::ZSTD;
        }
        f
    })
}

/// A ConnCopy chunk that keeps every decode rule.
fn conn_copy() -> impl Strategy<Value = ConnCopy> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        frame_flags(),
        any::<u64>(),
    )
        .prop_map(|(connection, message, total, a, b, chunk_flags, method)| {
            let mut total = total;
            let mut offset = a % total.saturating_add(1);
            let mut size = b % (total - offset).saturating_add(1);
            if chunk_flags.contains(FrameFlags::BEGIN) {
                offset = 0;
            }
            if chunk_flags.contains(FrameFlags::END) {
                size = total - offset;
            }
            if chunk_flags.contains(FrameFlags::ABORT) {
                (total, offset, size) = (0, 0, 0);
            }
            ConnCopy {
                connection,
                message,
                total,
                offset,
                size,
                chunk_flags,
                method_or_status: if chunk_flags.contains(FrameFlags::BEGIN) {
                    method
                } else {
                    0
                },
            }
        })
}

proptest! {
    #[test]
    fn error_round_trips(context in any::<u64>(), code in error_code()) {
        round_trip(Error { context, code })?;
    }

    #[test]
    fn conn_create_round_trips(connection in 1..=u64::MAX) {
        round_trip(ConnCreate { connection, stream_flags: 0 })?;
    }

    #[test]
    fn conn_accept_round_trips(connection in 1..=u64::MAX) {
        round_trip(ConnAccept { connection })?;
    }

    #[test]
    fn conn_close_round_trips(connection in 1..=u64::MAX, reason in any::<u64>()) {
        round_trip(ConnClose { connection, reason })?;
    }

    #[test]
    fn conn_copy_round_trips(chunk in conn_copy()) {
        round_trip(chunk)?;
    }

    #[test]
    fn proto_negotiate_round_trips(version in version(), f in any::<u64>(), c in any::<u64>()) {
        round_trip(ProtoNegotiate {
            version,
            features: Features::from_bits_truncate(f),
            capabilities: Capabilities::from_bits_truncate(c),
        })?;
    }

    #[test]
    fn proto_ack_round_trips(version in version(), f in any::<u64>(), c in any::<u64>()) {
        round_trip(ProtoAck {
            version,
            features: Features::from_bits_truncate(f),
            capabilities: Capabilities::from_bits_truncate(c),
        })?;
    }

    #[test]
    fn standard_link_tombstone_round_trips(copy in any::<u64>(), buffer_index in any::<u64>(), reason in any::<u64>()) {
        round_trip(StandardLinkTombstone { copy, buffer_index, reason })?;
    }

    #[test]
    fn standard_link_copy_round_trips(copy in any::<u64>(), buffer_index in any::<u64>(), size in 1..=u64::MAX) {
        round_trip(StandardLinkCopy { copy, buffer_index, size })?;
    }

    /// Any 64 bytes decode to a message or a typed error naming the opcode;
    /// a decoded message encodes to a packet that decodes to it again.
    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::array::uniform32(any::<u8>()), more in proptest::array::uniform32(any::<u8>())) {
        let mut all = [0u8; 64];
        all[..32].copy_from_slice(&bytes);
        all[32..].copy_from_slice(&more);
        check_decode(&Packet::from_bytes(&all))?;
    }

    /// Random packets with a known opcode, clean reserved bytes and small
    /// operands, so that decoding gets past the first checks.
    #[test]
    fn decoding_plausible_packets_never_panics(op in proptest::sample::select(OpCode::ALL.to_vec()), operands in proptest::array::uniform7(0u64..300)) {
        check_decode(&Packet::new(op.code(), operands))?;
    }
}

fn check_decode(packet: &Packet) -> Result<(), TestCaseError> {
    match Message::decode(packet) {
        Ok(message) => {
            prop_assert_eq!(message.opcode().code(), packet.opcode());
            prop_assert_eq!(Message::decode(&message.encode()), Ok(message));
        }
        Err(e) => {
            prop_assert_eq!(e.opcode(), packet.opcode());
            if let DecodeError::UnknownOpcode(op) = e {
                prop_assert!(OpCode::from_code(op).is_none());
            }
            prop_assert!(!e.to_string().is_empty());
        }
    }
    Ok(())
}

#[test]
fn bad_packets_get_the_error_that_names_the_problem() {
    use hqq_runtime::codec::OperandRef;

    assert_eq!(
        Message::decode(&Packet::new(0x42, [0; 7])),
        Err(DecodeError::UnknownOpcode(0x42))
    );
    assert_eq!(
        Message::decode(&Packet::from_words([0x1_00 | 0xFF, 1, 0, 5, 0, 0, 0, 0])),
        Err(DecodeError::ReservedBits {
            opcode: 0xFF,
            reserved: 1
        })
    );
    assert_eq!(
        Message::decode(&Packet::new(0xFF, [1, 0, 5, 9, 0, 0, 0])),
        Err(DecodeError::UnusedOperand {
            opcode: 0xFF,
            index: 3,
            value: 9
        })
    );
    assert_eq!(
        Message::decode(&Packet::new(0xFF, [1, 0, 0, 0, 0, 0, 0])),
        Err(DecodeError::Rule {
            operand: OperandRef::of::<StandardLinkCopy>(2, "size"),
            rule: "size >= 1",
            value: 0
        })
    );
    assert_eq!(
        Message::decode(&Packet::new(0x00, [7, 0x99, 0, 0, 0, 0, 0])),
        Err(DecodeError::UnknownValue {
            operand: OperandRef::of::<Error>(1, "code"),
            value: 0x99
        })
    );
    assert_eq!(
        Message::decode(&Packet::new(0x06, [0x1_0000, 0, 0, 0, 0, 0, 0])),
        Err(DecodeError::OutOfRange {
            operand: OperandRef::of::<ProtoAck>(0, "version"),
            value: 0x1_0000,
            max: 0xFFFF
        })
    );
    assert_eq!(
        Message::decode(&Packet::new(0x06, [0x100, 1 << 40, 0, 0, 0, 0, 0])),
        Err(DecodeError::UnknownFlags {
            operand: OperandRef::of::<ProtoAck>(1, "features"),
            bits: 1 << 40
        })
    );
    // A negotiation request from a newer peer: unknown bits are dropped.
    assert_eq!(
        ProtoNegotiate::decode(&Packet::new(0x05, [0x101, 3 | 1 << 40, 7, 0, 0, 0, 0]))
            .map(|p| p.features),
        Ok(Features::LARGE_COPY | Features::REQUEST_RESPONSE)
    );
    let request_and_response =
        (FrameFlags::BEGIN | FrameFlags::END | FrameFlags::REQUEST | FrameFlags::RESPONSE).bits();
    assert_eq!(
        Message::decode(&Packet::new(0x04, [0, 1, 0, 0, 0, request_and_response, 0])),
        Err(DecodeError::Rule {
            operand: OperandRef::of::<ConnCopy>(5, "chunk_flags"),
            rule: "Request and Response are exclusive",
            value: request_and_response
        })
    );
    let e = Message::decode(&Packet::new(0x04, [0, 1, 100, 90, 20, 0, 0])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ConnCopy (0x04) operand 3 `offset` = 90: breaks rule `offset + size <= total`"
    );
}
