//! Custom opcodes: an application defines Ping (0x80) and Pong (0x81) with
//! `#[derive(Packet)]`, handles them through the trait `#[derive(Dispatch)]`
//! generates, and round-trips them: encode -> 64 wire bytes -> decode ->
//! dispatch. One receive loop also serves the core protocol's packets.
//!
//! For now both sides live in one process and the "link" is a queue of wire
//! bytes; once the Standard link exists the two sides become two processes.
//!
//! Run with `cargo run --example custom_opcode`.

use std::collections::VecDeque;

use hqq::protocol::{Message, StandardLinkCopy};
use hqq::runtime::codec::{DispatchError, Limits, Rejection};
use hqq::{Dispatch, OperandValue, Packet, PacketCodec};

/// Nanoseconds since the sender's clock epoch.
#[derive(OperandValue, Debug, Clone, Copy, PartialEq)]
struct Nanos(u64);

/// Asks the peer for a Pong.
#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x80)]
struct Ping {
    seq: u64,
    sent_at: Nanos,
    /// Hops left: a u8, so a word above 255 is refused on decode.
    ttl: u8,
}

/// Answers a Ping; `echo` carries the Ping's `sent_at`.
#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x81)]
struct Pong {
    seq: u64,
    echo: Nanos,
    /// Whether the payload is a copy of the Ping's payload.
    payload_echoed: bool,
}

/// Everything this application receives.
#[derive(Dispatch, Debug, Clone, Copy, PartialEq)]
enum Inbound {
    Ping(Ping),
    Pong(Pong),
}

/// 64 wire bytes and the payload of their slot, as a link carries them.
type Frame = ([u8; 64], Vec<u8>);

/// One side of the conversation: answers Pings, records Pongs.
struct Peer {
    name: &'static str,
    outbox: VecDeque<Frame>,
    pongs: Vec<Pong>,
}

impl Peer {
    fn new(name: &'static str) -> Self {
        Peer {
            name,
            outbox: VecDeque::new(),
            pongs: Vec::new(),
        }
    }

    fn send(&mut self, packet: &impl PacketCodec, payload: &[u8]) {
        self.outbox
            .push_back((packet.encode().to_bytes(), payload.to_vec()));
    }
}

impl InboundHandler for Peer {
    fn on_ping(&mut self, ping: Ping, payload: &[u8]) -> Result<(), Rejection> {
        println!(
            "{}: Ping #{} ttl {} with {} payload bytes",
            self.name,
            ping.seq,
            ping.ttl,
            payload.len()
        );
        let pong = Pong {
            seq: ping.seq,
            echo: ping.sent_at,
            payload_echoed: true,
        };
        self.send(&pong, payload);
        Ok(())
    }

    fn on_pong(&mut self, pong: Pong, payload: &[u8]) -> Result<(), Rejection> {
        println!(
            "{}: Pong #{} echoing {:?} with {:?}",
            self.name,
            pong.seq,
            pong.echo,
            String::from_utf8_lossy(payload)
        );
        self.pongs.push(pong);
        Ok(())
    }

    fn on_core(&mut self, message: Message, payload: &[u8]) -> Result<(), Rejection> {
        println!(
            "{}: core packet {} with {} payload bytes",
            self.name,
            message.opcode(),
            payload.len()
        );
        Ok(())
    }
}

/// Delivers everything `from` sent to `to`, as a receive loop would.
fn deliver(from: &mut Peer, to: &mut Peer, limits: &Limits) -> Result<(), DispatchError> {
    while let Some((bytes, payload)) = from.outbox.pop_front() {
        let packet = hqq::Packet::from_bytes(&bytes);
        Inbound::dispatch(to, &packet, &payload, limits)?;
    }
    Ok(())
}

fn main() -> Result<(), DispatchError> {
    let limits = Limits::new(16, 4096);
    let mut client = Peer::new("client");
    let mut server = Peer::new("server");

    for seq in 1..=3 {
        let ping = Ping {
            seq,
            sent_at: Nanos(1_000 * seq),
            ttl: 8,
        };
        client.send(&ping, format!("hello {seq}").as_bytes());
    }
    // A core packet goes through the same loop and reaches `on_core`.
    let copy = StandardLinkCopy {
        copy: 1,
        buffer_index: 0,
        size: 4,
    };
    client.send(&copy, b"core");

    deliver(&mut client, &mut server, &limits)?;
    deliver(&mut server, &mut client, &limits)?;

    assert_eq!(client.pongs.len(), 3);
    for (i, pong) in client.pongs.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(pong.seq, seq);
        assert_eq!(pong.echo, Nanos(1_000 * seq));
    }

    // A corrupt Ping (ttl above 255) is refused before any handler runs.
    let mut words = Ping {
        seq: 9,
        sent_at: Nanos(0),
        ttl: 1,
    }
    .encode()
    .words();
    words[3] = 300;
    let refused = Inbound::dispatch(&mut server, &hqq::Packet::from_words(words), &[], &limits);
    println!("corrupt Ping: {}", refused.unwrap_err());
    println!("round trip ok: 3 Pings answered by 3 Pongs");
    Ok(())
}
