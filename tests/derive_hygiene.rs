//! The macros' expansions must not depend on names in the caller's scope:
//! decoy `Result`, `Ok`, `Err`, `Option`, `Some`, `None`, `Packet`,
//! `PacketCodec`, `DecodeError` and `Message` are planted here, and the
//! derived and included code must still compile and work.
#![allow(dead_code, non_camel_case_types)]

struct Result;
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct Packet;
struct DecodeError;
struct Message;
trait PacketCodec {
    fn encode(&self) -> Packet {
        Packet
    }
    fn decode() {}
}
impl<T> PacketCodec for T {}

mod spec_in_a_crowded_module {
    #![allow(dead_code)]
    struct Result;
    struct Option;
    struct Some;
    struct Ok;
    hqq::include_spec!("tests/derive/app.yaml");
}

#[derive(hqq::OperandValue, Clone, Copy, Debug, PartialEq)]
struct Count(u16);

#[derive(hqq::Packet, Clone, Copy, Debug, PartialEq)]
#[hqq(opcode = 0x80)]
struct Ping {
    seq: u64,
    count: Count,
    #[hqq(operand = 5)]
    level: spec_in_a_crowded_module::Level,
}

#[derive(hqq::Dispatch, Clone, Copy, Debug, PartialEq)]
enum App {
    Ping(Ping),
    Sample(spec_in_a_crowded_module::Sample),
}

struct Handler;

impl AppHandler for Handler {
    fn on_ping(
        &mut self,
        _: Ping,
        _: ::hqq::PayloadView<'_>,
    ) -> core::result::Result<(), hqq::runtime::codec::Rejection> {
        core::result::Result::Ok(())
    }

    fn on_sample(
        &mut self,
        _: spec_in_a_crowded_module::Sample,
        _: ::hqq::PayloadView<'_>,
    ) -> core::result::Result<(), hqq::runtime::codec::Rejection> {
        core::result::Result::Ok(())
    }
}

#[test]
fn expansions_use_qualified_paths_only() {
    let ping = Ping {
        seq: 1,
        count: Count(2),
        level: spec_in_a_crowded_module::Level::Info,
    };
    let packet = hqq::PacketCodec::encode(&ping);
    assert_eq!(
        <Ping as hqq::PacketCodec>::decode(&packet),
        core::result::Result::Ok(ping)
    );
    let limits = hqq::runtime::codec::Limits::new(4, 64);
    assert!(App::dispatch(
        &mut Handler,
        &packet,
        ::hqq::PayloadView::from_slice(&[]),
        &limits
    )
    .is_ok());
}
