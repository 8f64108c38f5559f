//! Behaviour of `#[derive(Packet)]` and `#[derive(OperandValue)]` packets:
//! round trips and every decode error, next to packets generated from a spec
//! by `include_spec!`, through the one `PacketCodec` trait.

use hqq::runtime::codec::{DecodeError, Limits, OperandRef, Version};
use hqq::{OperandValue, Packet, PacketCodec};

mod telemetry {
    hqq::include_spec!("tests/derive/app.yaml");
}
use telemetry::{Level, SampleFlags};

#[derive(OperandValue, Debug, Clone, Copy, PartialEq)]
struct Millis(u32);

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x80)]
struct Probe {
    id: u64,
    ttl: u8,
    port: u16,
    #[hqq(operand = 4)]
    wait: Millis,
    urgent: bool,
    level: Level,
}

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x81)]
struct Tagged {
    delta: i64,
    version: Version,
    flags: SampleFlags,
}

fn probe() -> Probe {
    Probe {
        id: 0xDEAD_BEEF,
        ttl: 200,
        port: 8080,
        wait: Millis(1500),
        urgent: true,
        level: Level::Alarm,
    }
}

fn with_word(p: &impl PacketCodec, word: usize, value: u64) -> hqq::Packet {
    let mut words = p.encode().words();
    words[word] = value;
    hqq::Packet::from_words(words)
}

/// Runtime code sees derived and generated packets alike.
fn round_trip<P: PacketCodec + PartialEq + std::fmt::Debug>(p: &P) -> P {
    let packet = p.encode();
    assert_eq!(packet.opcode(), P::OPCODE);
    p.validate(&Limits::new(4, 64)).expect("valid on this link");
    P::decode(&packet).expect("decodes")
}

#[test]
fn derived_and_generated_packets_round_trip() {
    assert_eq!(round_trip(&probe()), probe());
    let tagged = Tagged {
        delta: -42,
        version: Version::new(1, 1),
        flags: SampleFlags::CALIBRATED | SampleFlags::FINAL,
    };
    assert_eq!(round_trip(&tagged), tagged);
    let sample = telemetry::Sample {
        sensor: 1,
        level: Level::Info,
        sample_flags: SampleFlags::ESTIMATED,
        bytes: 8,
    };
    assert_eq!(round_trip(&sample), sample);
}

#[test]
fn fields_sit_on_their_operands() {
    let words = probe().encode().words();
    assert_eq!(
        words,
        [
            0x80,
            0xDEAD_BEEF,
            200,
            8080,
            0,
            1500,
            1,
            Level::Alarm.value()
        ]
    );
    assert_eq!(Probe::NAME, "Probe");
    let tagged = Tagged {
        delta: -1,
        version: Version::new(2, 3),
        flags: SampleFlags::FINAL,
    };
    assert_eq!(tagged.encode().words()[1..4], [u64::MAX, 0x203, 0b100]);
}

#[test]
fn decode_rejects_another_opcode_and_reserved_bits() {
    assert_eq!(
        Probe::decode(&with_word(&probe(), 0, 0x81)),
        Err(DecodeError::WrongOpcode {
            expected: 0x80,
            found: 0x81
        })
    );
    assert_eq!(
        Probe::decode(&with_word(&probe(), 0, 0x1_0080)),
        Err(DecodeError::ReservedBits {
            opcode: 0x80,
            reserved: 0x100
        })
    );
}

#[test]
fn decode_rejects_non_zero_unused_operands() {
    // Operand 3 (word 4) is the gap before `wait`.
    assert_eq!(
        Probe::decode(&with_word(&probe(), 4, 9)),
        Err(DecodeError::UnusedOperand {
            opcode: 0x80,
            index: 3,
            value: 9
        })
    );
    assert_eq!(
        Tagged::decode(&with_word(
            &Tagged {
                delta: 0,
                version: Version::new(1, 0),
                flags: SampleFlags::empty()
            },
            7,
            1
        )),
        Err(DecodeError::UnusedOperand {
            opcode: 0x81,
            index: 6,
            value: 1
        })
    );
}

#[test]
fn narrow_fields_are_range_checked() {
    let cases: [(usize, u64, u8, &str, u64); 4] = [
        (2, 256, 1, "ttl", 0xFF),
        (3, 0x1_0000, 2, "port", 0xFFFF),
        (5, 1 << 32, 4, "wait", 0xFFFF_FFFF),
        (6, 2, 5, "urgent", 1),
    ];
    for (word, value, index, name, max) in cases {
        assert_eq!(
            Probe::decode(&with_word(&probe(), word, value)),
            Err(DecodeError::OutOfRange {
                operand: OperandRef::of::<Probe>(index, name),
                value,
                max
            }),
            "{name}"
        );
    }
}

#[test]
fn generated_enums_and_flag_sets_are_checked() {
    assert_eq!(
        Probe::decode(&with_word(&probe(), 7, 9)),
        Err(DecodeError::UnknownValue {
            operand: OperandRef::of::<Probe>(6, "level"),
            value: 9
        })
    );
    let tagged = Tagged {
        delta: 0,
        version: Version::new(1, 0),
        flags: SampleFlags::CALIBRATED,
    };
    assert_eq!(
        Tagged::decode(&with_word(&tagged, 3, 0b1000)),
        Err(DecodeError::UnknownFlags {
            operand: OperandRef::of::<Tagged>(2, "flags"),
            bits: 0b1000
        })
    );
    // CALIBRATED and ESTIMATED are exclusive.
    assert!(matches!(
        Tagged::decode(&with_word(&tagged, 3, 0b11)),
        Err(DecodeError::Rule { value: 0b11, .. })
    ));
    assert_eq!(
        Tagged::decode(&with_word(&tagged, 2, 0x1_0000)),
        Err(DecodeError::OutOfRange {
            operand: OperandRef::of::<Tagged>(1, "version"),
            value: 0x1_0000,
            max: 0xFFFF
        })
    );
}

#[test]
fn the_first_bad_operand_is_reported() {
    let mut words = probe().encode().words();
    words[2] = 999; // ttl, operand 1
    words[7] = 999; // level, operand 6
    assert!(matches!(
        Probe::decode(&hqq::Packet::from_words(words)),
        Err(DecodeError::OutOfRange { operand, .. }) if operand.index == 1
    ));
}

/// A derived packet with rules: the same language as a spec operand's
/// `rules:`, on narrow fields too, with a condition on a flag field.
#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x82)]
struct Chunk {
    #[hqq(rule = "offset + size <= limits.buffer_size")]
    offset: u32,
    #[hqq(rule = "size >= 1")]
    #[hqq(rule = "size <= 16 when flags.Final")]
    size: u16,
    flags: SampleFlags,
}

#[test]
fn derived_rules_are_checked_by_decode_and_validate() {
    use hqq::runtime::codec::Violation;

    let limits = Limits {
        buffer_size: 64,
        slot_count: 8,
        max_message_size: 1024,
    };
    let chunk = Chunk {
        offset: 60,
        size: 4,
        flags: SampleFlags::FINAL,
    };
    assert_eq!(round_trip(&chunk), chunk);
    assert_eq!(chunk.validate(&limits), Ok(()));

    let past_the_buffer = Chunk {
        offset: 61,
        ..chunk
    };
    assert_eq!(
        past_the_buffer.validate(&limits),
        Err(Violation {
            operand: OperandRef::of::<Chunk>(0, "offset"),
            rule: "offset + size <= limits.buffer_size",
            value: 61,
        })
    );
    let empty = with_word(&chunk, 2, 0);
    assert_eq!(
        Chunk::decode(&empty),
        Err(DecodeError::Rule {
            operand: OperandRef::of::<Chunk>(1, "size"),
            rule: "size >= 1",
            value: 0,
        })
    );
    // The condition: a large final chunk is refused, a large other one not.
    let large_final = with_word(&chunk, 2, 17);
    assert_eq!(
        Chunk::decode(&large_final),
        Err(DecodeError::Rule {
            operand: OperandRef::of::<Chunk>(1, "size"),
            rule: "size <= 16 when flags.Final",
            value: 17,
        })
    );
    let large = Chunk {
        offset: 0,
        size: 17,
        flags: SampleFlags::empty(),
    };
    assert_eq!(round_trip(&large), large);
}
