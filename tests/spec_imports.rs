//! A spec that imports the core spec (`tests/derive/imports.yaml`, through
//! `include_spec!`): its packets use the runtime's own `ErrorCode` and
//! `Features`, re-exported, not copies of them.

use hqq::runtime::protocol::{ErrorCode, Features};
use hqq::PacketCodec;

mod jobs {
    hqq::include_spec!("tests/derive/imports.yaml");
}

#[test]
fn imported_core_types_are_the_runtimes_own() {
    let failed = jobs::Failed {
        job: 7,
        code: ErrorCode::InvalidOp,
        needs: Features::LARGE_COPY | Features::REQUEST_RESPONSE,
    };
    // The re-export is the same type, so this assignment type-checks.
    let code: jobs::ErrorCode = ErrorCode::InvalidOp;
    assert_eq!(failed.code, code);
    let packet = failed.encode();
    assert_eq!(packet.words()[..4], [0xA0, 7, 0x06, 0b11]);
    assert_eq!(jobs::Failed::decode(&packet), Ok(failed));
    let mut words = packet.words();
    words[2] = 0x99;
    assert!(jobs::Failed::decode(&hqq::runtime::Packet::from_words(words)).is_err());
}
