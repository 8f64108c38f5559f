//! Custom opcodes between two processes: an application defines Ping
//! (0x80) and Pong (0x81) with `#[derive(Packet)]`, sends them as raw
//! packets on a Standard link, and handles them through the trait
//! `#[derive(Dispatch)]` generates. The same receive loop serves the core
//! protocol's packets (a plain data message) and refuses a corrupt Ping
//! before any handler runs.
//!
//! The program is the client; it starts a copy of itself as the server.
//!
//! Run with `cargo run --example custom_opcode`.

use std::process::{Command, ExitCode};
use std::time::Duration;

use hqq::protocol::{ErrorCode, Message};
use hqq::runtime::codec::{Limits, Rejection};
use hqq::{Dispatch, LinkConfig, OperandValue, Packet, PacketCodec, PayloadView, StandardLink};

/// Set in the server's environment to the segment name.
const SERVER_ENV: &str = "HQQ_CUSTOM_OPCODE_SERVER";
/// Pings the client sends.
const PINGS: u64 = 3;
/// No receive waits longer than this: a vanished peer is an error, not a hang.
const PATIENCE: Duration = Duration::from_secs(10);

/// Nanoseconds since the sender's clock epoch.
#[derive(OperandValue, Debug, Clone, Copy, PartialEq)]
struct Nanos(u64);

/// Asks the peer for a Pong; `len` payload bytes ride in the slot's buffer.
#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x80)]
struct Ping {
    seq: u64,
    sent_at: Nanos,
    /// Hops left: a u8, so a word above 255 is refused on decode.
    ttl: u8,
    /// Payload bytes at the start of the slot's buffer.
    len: u16,
}

/// Answers a Ping; `echo` carries the Ping's `sent_at`, the payload is the
/// Ping's payload.
#[derive(Packet, Debug, Clone, Copy, PartialEq)]
#[hqq(opcode = 0x81)]
struct Pong {
    seq: u64,
    echo: Nanos,
    len: u16,
}

/// Everything this application receives.
#[derive(Dispatch, Debug, Clone, Copy, PartialEq)]
enum Inbound {
    Ping(Ping),
    Pong(Pong),
}

/// One side of the conversation: answers Pings, records Pongs.
struct Peer<'a> {
    name: &'static str,
    link: &'a StandardLink,
    pongs: Vec<Pong>,
    core_packets: usize,
}

/// The first `len` bytes of a slot's buffer, copied out of shared memory
/// (the peer could change them while we read), or a rejection.
fn payload_of(
    buffer: PayloadView<'_>,
    len: u16,
    opcode: u8,
    context: u64,
) -> Result<Vec<u8>, Rejection> {
    buffer
        .get(..usize::from(len))
        .map(|bytes| bytes.to_vec())
        .ok_or(Rejection::new(opcode, ErrorCode::InvalidSize, context))
}

impl InboundHandler for Peer<'_> {
    fn on_ping(&mut self, ping: Ping, buffer: PayloadView<'_>) -> Result<(), Rejection> {
        let payload = payload_of(buffer, ping.len, Ping::OPCODE, ping.seq)?;
        println!(
            "{}: Ping #{} ttl {} with {:?}",
            self.name,
            ping.seq,
            ping.ttl,
            String::from_utf8_lossy(&payload)
        );
        let pong = Pong {
            seq: ping.seq,
            echo: ping.sent_at,
            len: ping.len,
        };
        self.link
            .send_packet(pong.encode(), &payload)
            .map_err(|_| Rejection::new(Ping::OPCODE, ErrorCode::BufferOverflow, ping.seq))
    }

    fn on_pong(&mut self, pong: Pong, buffer: PayloadView<'_>) -> Result<(), Rejection> {
        let payload = payload_of(buffer, pong.len, Pong::OPCODE, pong.seq)?;
        println!(
            "{}: Pong #{} echoing {:?} with {:?}",
            self.name,
            pong.seq,
            pong.echo,
            String::from_utf8_lossy(&payload)
        );
        self.pongs.push(pong);
        Ok(())
    }

    fn on_core(&mut self, message: Message, _buffer: PayloadView<'_>) -> Result<(), Rejection> {
        println!("{}: core packet {message:?}", self.name);
        self.core_packets += 1;
        Ok(())
    }
}

fn config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config.slots(16).buffer_size(4096);
    config
}

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let result = match std::env::var(SERVER_ENV) {
        Ok(name) => server(&name),
        Err(_) => client(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("custom_opcode: {error}");
            ExitCode::FAILURE
        }
    }
}

fn client() -> Result<(), Error> {
    let name = format!("hqq-custom-opcode-{}", std::process::id());
    let link = StandardLink::create(&name, &config())?;
    link.set_read_timeout(Some(PATIENCE));
    let mut server = Command::new(std::env::current_exe()?)
        .env(SERVER_ENV, &name)
        .spawn()?;

    for seq in 1..=PINGS {
        let payload = format!("hello {seq}");
        let ping = Ping {
            seq,
            sent_at: Nanos(1_000 * seq),
            ttl: 8,
            len: payload.len() as u16,
        };
        link.send_packet(ping.encode(), payload.as_bytes())?;
    }
    // A core data message goes through the server's same loop to `on_core`.
    link.send(b"plain data")?;
    // A corrupt Ping (ttl above 255) is refused before any handler runs.
    let mut words = Ping {
        seq: 9,
        sent_at: Nanos(0),
        ttl: 1,
        len: 0,
    }
    .encode()
    .words();
    words[3] = 300;
    link.send_packet(Packet::from_words(words), &[])?;

    let limits = Limits::new(link.slots(), link.buffer_size() as u64);
    let mut me = Peer {
        name: "client",
        link: &link,
        pongs: Vec::new(),
        core_packets: 0,
    };
    while (me.pongs.len() as u64) < PINGS {
        let received = link.recv_packet()?;
        Inbound::dispatch(&mut me, &received.packet(), received.payload(), &limits)?;
    }
    let status = server.wait()?;
    if !status.success() {
        return Err(format!("server exited with {status}").into());
    }
    println!("round trip ok: {PINGS} Pings answered by {PINGS} Pongs");
    Ok(())
}

fn server(name: &str) -> Result<(), Error> {
    let link = StandardLink::open(name, &config())?;
    link.set_read_timeout(Some(PATIENCE));
    let limits = Limits::new(link.slots(), link.buffer_size() as u64);
    let mut me = Peer {
        name: "server",
        link: &link,
        pongs: Vec::new(),
        core_packets: 0,
    };
    // Three Pings, one core packet, one corrupt Ping.
    for _ in 0..PINGS + 2 {
        let received = link.recv_packet()?;
        if let Err(refused) =
            Inbound::dispatch(&mut me, &received.packet(), received.payload(), &limits)
        {
            println!("server: refused {refused}");
        }
    }
    println!(
        "server: {} core packet(s) served by on_core",
        me.core_packets
    );
    Ok(())
}
