//! The run-time interpreter (`hqq_gen::interpret`, used by `hqq recv --spec`)
//! decodes the Go peer's golden packets and application packets by name, and
//! rejects bad packets for the reasons generated decoders give.

use hqq_gen::interpret::{decode, InterpretError};
use hqq_gen::Spec;

fn spec(path: &str) -> Spec {
    Spec::read(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The words of ring 0 slot `slot` of a golden image.
fn golden(name: &str, slot: usize) -> [u64; 8] {
    let path = format!("{}/../tests/data/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let image = std::fs::read(&path).expect("a golden image");
    let at = 4096 + 256 + 72 * slot;
    std::array::from_fn(|i| {
        u64::from_le_bytes(
            image[at + 8 * i..at + 8 * i + 8]
                .try_into()
                .expect("8 bytes"),
        )
    })
}

#[test]
fn golden_packets_decode_by_name() {
    let core = spec("spec/hqq.yaml");
    let cases = [
        (
            "adv-8x64-1-negotiated.bin",
            0,
            "ProtoNegotiate { version: 1.0, features: LargeCopy | RequestResponse, \
             capabilities: LargeBuffers | HighThroughput | LowLatency }",
        ),
        (
            "adv-8x64-2-sent-large-150.bin",
            1,
            "ConnCopy { connection: 0, message: 1, total: 150, offset: 0, size: 64, \
             chunk_flags: Begin, method_or_status: 0 }",
        ),
        (
            "adv-8x64-2-sent-large-150.bin",
            2,
            "ConnCopy { connection: 0, message: 1, total: 150, offset: 64, size: 64, \
             chunk_flags: (none), method_or_status: 0 }",
        ),
        (
            "std-4x64-2-primary-wrote-hello.bin",
            0,
            "StandardLinkCopy { copy: 1, buffer_index: 0, size: 5 }",
        ),
    ];
    for (image, slot, expected) in cases {
        let decoded = decode(&core, golden(image, slot)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.to_string(), expected);
    }
}

#[test]
fn bad_packets_are_rejected_like_generated_decoders_do() {
    let core = spec("spec/hqq.yaml");
    let chunk = golden("adv-8x64-2-sent-large-150.bin", 1);
    let with = |word: usize, value: u64| {
        let mut words = chunk;
        words[word] = value;
        decode(&core, words).map(|d| d.to_string())
    };
    assert!(matches!(
        with(0, 0x104),
        Err(InterpretError::ReservedBits { value: 1, .. })
    ));
    assert_eq!(
        with(6, 0x19).unwrap_err().to_string(),
        "ConnCopy operand 5 `chunk_flags`: 0x19 breaks `Request and Response are exclusive`"
    );
    assert_eq!(
        with(4, 200).unwrap_err().to_string(),
        "ConnCopy operand 3 `offset`: 200 breaks `offset + size <= total`"
    );
    // Offset 2 and size u64::MAX wrap around to 1 in 64 bits.
    let mut wraps = chunk;
    (wraps[4], wraps[5], wraps[6]) = (2, u64::MAX, 0);
    assert!(decode(&core, wraps).is_err());
    assert_eq!(with(0, 0x80), Err(InterpretError::UnknownOpcode(0x80)));
    let mut error = [0, 7, 0x99, 0, 0, 0, 0, 0];
    assert_eq!(
        decode(&core, error).unwrap_err().to_string(),
        "Error operand 1 `code`: 0x99 is not a value of ErrorCode"
    );
    error[2] = 6;
    assert_eq!(
        decode(&core, error).unwrap().to_string(),
        "Error { context: 7, code: InvalidOp }"
    );
    error[3] = 1;
    assert!(matches!(
        decode(&core, error),
        Err(InterpretError::UnusedOperand {
            index: 2,
            value: 1,
            ..
        })
    ));
}

#[test]
fn application_packets_decode_with_their_spec() {
    let kv = spec("tests/data/kv.yaml");
    let put = decode(&kv, [0x80, 42, 3, 0b11, 0, 0, 0, 0]).unwrap();
    assert_eq!(
        put.to_string(),
        "Put { key: 42, len: 3, put_flags: Create | Replace }"
    );
    let stats = decode(&kv, [0x83, 255, 8080, 7, u64::MAX - 1, 1, 0, 0]).unwrap();
    assert_eq!(
        stats.to_string(),
        "Stats { shard: 255, port: 8080, keys: 7, delta: -2, read_only: true }"
    );
    assert_eq!(
        decode(&kv, [0x83, 0, 0, 0, 0, 2, 0, 0])
            .unwrap_err()
            .to_string(),
        "Stats operand 4 `read_only`: 2 is above the maximum 1"
    );
    assert_eq!(
        decode(&kv, [0x80, 1, 1, 0b10000, 0, 0, 0, 0])
            .unwrap_err()
            .to_string(),
        "Put operand 2 `put_flags`: 0x10 breaks `Sync requires Replace`"
    );
}

#[test]
fn rules_on_narrow_operands_are_checked_on_their_words() {
    let kv = spec("tests/data/kv.yaml");
    let window = [0x84, 3, 0xFFF0, 0x10, 100, 0, 0, 0];
    assert_eq!(
        decode(&kv, window).unwrap().to_string(),
        "Window { shard: 3, first: 65520, count: 16, total: 100 }"
    );
    for (word, value, message) in [
        (
            3,
            0x11,
            "Window operand 2 `count`: 17 breaks `first + count <= 65536`",
        ),
        (1, 64, "Window operand 0 `shard`: 64 breaks `shard < 64`"),
        (
            4,
            0xF,
            "Window operand 3 `total`: 15 breaks `count <= total`",
        ),
    ] {
        let mut bad = window;
        bad[word] = value;
        assert_eq!(decode(&kv, bad).unwrap_err().to_string(), message);
    }
}
