//! Behaviour of `#[derive(Dispatch)]`: custom packets reach their handler
//! method with the payload, core packets reach `on_core`, and every failure
//! is the right `DispatchError`.

use hqq::protocol::{ConnClose, ErrorCode, Message, StandardLinkCopy};
use hqq::runtime::codec::{DecodeError, DispatchError, Limits, Rejection};
use hqq::{Dispatch, Packet, PacketCodec, PayloadView};

mod telemetry {
    hqq::include_spec!("tests/derive/app.yaml");
}
use telemetry::{Level, Sample, SampleFlags};

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x80)]
struct Ping {
    #[hqq(rule = "seq <= 0xFFFF_FFFF")]
    seq: u64,
}

#[derive(Dispatch, Debug, Clone, Copy, PartialEq)]
enum App {
    Ping(Ping),
    Sample(Sample),
}

#[derive(Default)]
struct Recorder {
    seen: Vec<String>,
}

impl AppHandler for Recorder {
    fn on_ping(&mut self, packet: Ping, payload: PayloadView<'_>) -> Result<(), Rejection> {
        if packet.seq == 0 {
            return Err(Rejection::new(Ping::OPCODE, ErrorCode::InvalidOp, 7));
        }
        self.seen.push(format!("ping {} {payload:?}", packet.seq));
        Ok(())
    }

    fn on_sample(&mut self, packet: Sample, _payload: PayloadView<'_>) -> Result<(), Rejection> {
        self.seen.push(format!("sample {}", packet.sensor));
        Ok(())
    }

    fn on_core(&mut self, message: Message, payload: PayloadView<'_>) -> Result<(), Rejection> {
        match message {
            Message::StandardLinkCopy(_) => {
                self.seen.push(format!("copy {payload:?}"));
                Ok(())
            }
            other => Err(Rejection::unhandled(other.opcode().code())),
        }
    }
}

struct Silent;

impl AppHandler for Silent {
    fn on_ping(&mut self, _: Ping, _: PayloadView<'_>) -> Result<(), Rejection> {
        Ok(())
    }

    fn on_sample(&mut self, _: Sample, _: PayloadView<'_>) -> Result<(), Rejection> {
        Ok(())
    }
}

const LIMITS: Limits = Limits::new(4, 64);

fn sample(bytes: u64) -> Sample {
    Sample {
        sensor: 3,
        level: Level::Warn,
        sample_flags: SampleFlags::FINAL,
        bytes,
    }
}

#[test]
fn one_loop_serves_custom_and_core_packets() {
    let mut r = Recorder::default();
    let copy = StandardLinkCopy {
        copy: 1,
        buffer_index: 0,
        size: 2,
    };
    let inbox = [
        (Ping { seq: 1 }.encode(), &b"hi"[..]),
        (sample(8).encode(), &[][..]),
        (copy.encode(), &b"ab"[..]),
    ];
    for (packet, payload) in &inbox {
        App::dispatch(&mut r, packet, PayloadView::from_slice(payload), &LIMITS).expect("handled");
    }
    assert_eq!(r.seen, ["ping 1 [104, 105]", "sample 3", "copy [97, 98]"]);
}

#[test]
fn decode_encode_and_conversions() {
    let app = App::from(Ping { seq: 9 });
    assert_eq!(app, App::Ping(Ping { seq: 9 }));
    assert_eq!(App::decode(&app.encode()), Ok(app));
    assert_eq!(app.opcode(), 0x80);
    assert_eq!(App::from(sample(1)).name(), "Sample");
    assert_eq!(
        App::decode(
            &StandardLinkCopy {
                copy: 1,
                buffer_index: 0,
                size: 1
            }
            .encode()
        ),
        Err(DecodeError::UnknownOpcode(0xFF))
    );
}

#[test]
fn invalid_packets_are_decode_errors() {
    let unknown = hqq::Packet::new(0xAA, [0; 7]);
    assert_eq!(
        App::dispatch(&mut Silent, &unknown, PayloadView::from_slice(&[]), &LIMITS),
        Err(DispatchError::Decode(DecodeError::UnknownOpcode(0xAA)))
    );
    let reserved = hqq::Packet::from_words([0x1_0080, 1, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        App::dispatch(
            &mut Silent,
            &reserved,
            PayloadView::from_slice(&[]),
            &LIMITS
        ),
        Err(DispatchError::Decode(DecodeError::ReservedBits {
            opcode: 0x80,
            ..
        }))
    ));
    let bad_core = StandardLinkCopy {
        copy: 1,
        buffer_index: 0,
        size: 0,
    };
    assert!(matches!(
        App::dispatch(
            &mut Silent,
            &bad_core.encode(),
            PayloadView::from_slice(&[]),
            &LIMITS
        ),
        Err(DispatchError::Decode(DecodeError::Rule { .. }))
    ));
}

#[test]
fn link_limits_are_validated_before_the_handler() {
    let mut r = Recorder::default();
    let err = App::dispatch(
        &mut r,
        &sample(65).encode(),
        PayloadView::from_slice(&[]),
        &LIMITS,
    )
    .unwrap_err();
    assert!(matches!(err, DispatchError::Invalid(v) if v.operand.name == "bytes"));
    assert!(r.seen.is_empty());
}

#[test]
fn rules_of_derived_packets_are_checked_before_the_handler() {
    let mut r = Recorder::default();
    let err = App::dispatch(
        &mut r,
        &Ping { seq: 1 << 32 }.encode(),
        PayloadView::from_slice(&[]),
        &LIMITS,
    )
    .unwrap_err();
    assert!(
        matches!(err, DispatchError::Decode(DecodeError::Rule { rule: "seq <= 4294967295", value, .. }) if value == 1 << 32),
        "{err:?}"
    );
    assert_eq!(err.error_code(), ErrorCode::InvalidOp);
    assert!(r.seen.is_empty());
}

#[test]
fn refusals_are_rejections() {
    let mut r = Recorder::default();
    assert_eq!(
        App::dispatch(
            &mut r,
            &Ping { seq: 0 }.encode(),
            PayloadView::from_slice(&[]),
            &LIMITS
        ),
        Err(DispatchError::Rejected(Rejection::new(
            0x80,
            ErrorCode::InvalidOp,
            7
        )))
    );
    let close = ConnClose {
        connection: 1,
        reason: 0,
    };
    let err = App::dispatch(
        &mut Silent,
        &close.encode(),
        PayloadView::from_slice(&[]),
        &LIMITS,
    )
    .unwrap_err();
    assert_eq!(
        err,
        DispatchError::Rejected(Rejection::unhandled(ConnClose::OPCODE))
    );
    assert_eq!(err.error_code(), ErrorCode::InvalidOp);
}
