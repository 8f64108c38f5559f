//! `#[derive(Dispatch)]` with the default handler trait name, a public enum
//! (the trait is public too), and a core packet reaching `on_core`.
use hqq::protocol::{Message, StandardLinkCopy};
use hqq::runtime::codec::{Limits, Rejection};
use hqq::{Dispatch, Packet, PacketCodec, PayloadView};

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x80)]
pub struct Ping {
    seq: u64,
}

#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x81)]
pub struct Pong {
    seq: u64,
}

#[derive(Dispatch, Debug, Clone, Copy, PartialEq)]
pub enum App {
    Ping(Ping),
    StartPong(Pong),
}

struct Log(Vec<String>);

impl AppHandler for Log {
    fn on_ping(&mut self, packet: Ping, payload: PayloadView<'_>) -> Result<(), Rejection> {
        self.0.push(format!("ping {} {payload:?}", packet.seq));
        Ok(())
    }

    fn on_start_pong(&mut self, packet: Pong, _payload: PayloadView<'_>) -> Result<(), Rejection> {
        self.0.push(format!("pong {}", packet.seq));
        Ok(())
    }

    fn on_core(&mut self, message: Message, _payload: PayloadView<'_>) -> Result<(), Rejection> {
        self.0.push(format!("core {}", message.opcode()));
        Ok(())
    }
}

fn main() {
    let limits = Limits::new(4, 64);
    let mut log = Log(Vec::new());
    App::dispatch(&mut log, &Ping { seq: 1 }.encode(), PayloadView::from_slice(&[7]), &limits).unwrap();
    App::dispatch(&mut log, &App::from(Pong { seq: 2 }).encode(), PayloadView::from_slice(&[]), &limits).unwrap();
    let copy = StandardLinkCopy { copy: 1, buffer_index: 0, size: 1 };
    App::dispatch(&mut log, &copy.encode(), PayloadView::from_slice(b"x"), &limits).unwrap();
    assert_eq!(log.0, ["ping 1 [7]", "pong 2", "core StandardLinkCopy"]);
    assert_eq!(App::StartPong(Pong { seq: 2 }).opcode(), Pong::OPCODE);
    assert_eq!(App::Ping(Ping { seq: 2 }).name(), "Ping");
}
