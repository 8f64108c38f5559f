//! `#[hqq(handler = Name)]` names the trait; the default `on_core` refuses
//! core packets with InvalidOp.
use hqq::protocol::{ErrorCode, StandardLinkCopy};
use hqq::runtime::codec::{DispatchError, Limits, Rejection};
use hqq::{Dispatch, Packet, PacketCodec, PayloadView};

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x80)]
struct Ping {
    seq: u64,
}

#[derive(Dispatch)]
#[hqq(handler = Server)]
enum Request {
    Ping(Ping),
}

struct Echo;

impl Server for Echo {
    fn on_ping(&mut self, _packet: Ping, _payload: PayloadView<'_>) -> Result<(), Rejection> {
        Ok(())
    }
}

fn main() {
    let limits = Limits::new(4, 64);
    let copy = StandardLinkCopy { copy: 1, buffer_index: 0, size: 1 };
    let err = Request::dispatch(&mut Echo, &copy.encode(), PayloadView::from_slice(&[]), &limits).unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::InvalidOp);
    assert!(matches!(err, DispatchError::Rejected(_)));
}
