//! Generated code for an application spec (hqq-gen/tests/data/kv.yaml,
//! golden file kv.rs) compiles against the runtime, and its `dispatch`
//! decodes, validates and calls the right handler method.

#[allow(dead_code)] // The test uses a part of the generated API.
mod kv {
    include!("../../hqq-gen/tests/data/kv.rs");
}

use hqq_runtime::codec::{DispatchError, Limits, PacketCodec, Rejection};
use hqq_runtime::protocol::ErrorCode;
use hqq_runtime::PayloadView;
use kv::{dispatch, Handler, Put, PutFlags, Scan};

#[derive(Default)]
struct Store {
    puts: Vec<(u64, Vec<u8>)>,
}

impl Handler for Store {
    fn on_put(&mut self, packet: Put, payload: PayloadView<'_>) -> Result<(), Rejection> {
        let len = usize::try_from(packet.len)
            .map_err(|_| Rejection::new(Put::OPCODE, ErrorCode::InvalidSize, packet.key))?;
        let value = payload.get(..len).ok_or(Rejection::new(
            Put::OPCODE,
            ErrorCode::InvalidSize,
            packet.key,
        ))?;
        self.puts.push((packet.key, value.to_vec()));
        Ok(())
    }
}

#[test]
fn dispatch_calls_the_handler_of_the_opcode() {
    let mut store = Store::default();
    let limits = Limits::new(4, 64);
    let put = Put {
        key: 7,
        len: 3,
        put_flags: PutFlags::CREATE,
    };
    assert_eq!(
        dispatch(
            &mut store,
            &put.encode(),
            PayloadView::from_slice(b"abcdef"),
            &limits
        ),
        Ok(())
    );
    assert_eq!(store.puts, vec![(7, b"abc".to_vec())]);
    assert_eq!(
        kv::OpCode::try_from(0x80).map(|op| op.to_string()),
        Ok("Put".to_owned())
    );
    assert!(kv::APPLICATION_OPCODES.contains(&Put::OPCODE));
}

#[test]
fn dispatch_reports_invalid_and_unhandled_packets() {
    let mut store = Store::default();
    let limits = Limits::new(4, 64);
    let too_long = Put {
        key: 1,
        len: 65,
        put_flags: PutFlags::empty(),
    };
    assert!(matches!(
        dispatch(&mut store, &too_long.encode(), PayloadView::from_slice(&[]), &limits),
        Err(DispatchError::Invalid(v)) if v.rule == "len <= limits.buffer_size"
    ));
    let sync_without_replace =
        hqq_runtime::Packet::new(0x80, [1, 1, PutFlags::SYNC.bits(), 0, 0, 0, 0]);
    assert!(matches!(
        dispatch(
            &mut store,
            &sync_without_replace,
            PayloadView::from_slice(&[]),
            &limits
        ),
        Err(DispatchError::Decode(
            hqq_runtime::codec::DecodeError::Rule {
                rule: "Sync requires Replace",
                ..
            }
        ))
    ));
    let scan = Scan { first: 1, count: 2 };
    let err = dispatch(
        &mut store,
        &scan.encode(),
        PayloadView::from_slice(&[]),
        &limits,
    )
    .unwrap_err();
    assert_eq!(
        err,
        DispatchError::Rejected(Rejection::unhandled(Scan::OPCODE))
    );
    assert_eq!(err.error_code(), ErrorCode::InvalidOp);
    assert!(store.puts.is_empty());
}

#[test]
fn narrow_operands_round_trip_and_are_range_checked() {
    use hqq_runtime::codec::DecodeError;
    use hqq_runtime::Packet;
    use kv::Stats;

    let stats = Stats {
        shard: 255,
        port: 8080,
        keys: u32::MAX,
        delta: -2,
        read_only: true,
    };
    let words = stats.encode().words();
    assert_eq!(words[1..6], [255, 8080, 0xFFFF_FFFF, u64::MAX - 1, 1]);
    assert_eq!(Stats::decode(&stats.encode()), Ok(stats));
    for (word, value, max) in [(1, 256, 0xFF), (2, 0x1_0000, 0xFFFF), (5, 2, 1)] {
        let mut bad = words;
        bad[word] = value;
        match Stats::decode(&Packet::from_words(bad)) {
            Err(DecodeError::OutOfRange {
                operand,
                value: v,
                max: m,
            }) => {
                assert_eq!((operand.index, v, m), (word as u8 - 1, value, max));
            }
            other => panic!("word {word} = {value}: {other:?}"),
        }
    }
}

#[test]
fn rules_on_narrow_operands_hold_on_decode_and_validate() {
    use hqq_runtime::codec::{DecodeError, Violation};
    use hqq_runtime::Packet;
    use kv::Window;

    let window = Window {
        shard: 3,
        first: 0xFFF0,
        count: 0x10,
        total: 100,
    };
    let words = window.encode().words();
    assert_eq!(Window::decode(&window.encode()), Ok(window));
    let ring = |slot_count| Limits {
        buffer_size: 64,
        slot_count,
        max_message_size: 1024,
    };
    assert_eq!(window.validate(&ring(16)), Ok(()));
    match window.validate(&ring(15)) {
        Err(Violation {
            operand,
            rule,
            value,
        }) => assert_eq!(
            (operand.name, rule, value),
            ("count", "count <= limits.slot_count", 16)
        ),
        other => panic!("a window above the ring: {other:?}"),
    }
    for (word, value, broken) in [
        (3, 0x11, "first + count <= 65536"),
        (1, 64, "shard < 64"),
        (4, 0xF, "count <= total"),
    ] {
        let mut bad = words;
        bad[word] = value;
        match Window::decode(&Packet::from_words(bad)) {
            Err(DecodeError::Rule { rule, .. }) => assert_eq!(rule, broken),
            other => panic!("word {word} = {value}: {other:?}"),
        }
    }
}
