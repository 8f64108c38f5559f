//! The echo protocol: how the benchmark drives a message channel whose
//! other end is a peer process, and the peer's side of it.
//!
//! The parent sends a 16-byte command header, then the command's messages:
//!
//! | bytes | field                                      |
//! |-------|--------------------------------------------|
//! | 0..4  | command: 1 = round trips, 2 = stream (LE)  |
//! | 4..8  | message size in bytes, 1..=[`MAX_MESSAGE_SIZE`] (LE) |
//! | 8..16 | message count (LE)                         |
//!
//! - **Round trips**: `count` times, the parent sends one message and the
//!   peer sends it back.
//! - **Stream**: the parent sends `count` messages; after the last one the
//!   peer sends one [`STREAM_ACK`] byte.
//!
//! The peer serves commands until the channel reaches end-of-file. Any
//! transport that can send and receive byte messages implements
//! [`EchoChannel`] and gets both measurements through [`EchoClient`].

use std::io;
use std::time::{Duration, Instant};

use super::error::{BenchError, PeerRunError};
use super::measure::{RoundTrip, Stream};
use super::peer::Peer;

/// Largest message the echo protocol carries.
pub const MAX_MESSAGE_SIZE: usize = 1 << 20;

/// The byte a peer sends after the last message of a stream.
pub const STREAM_ACK: u8 = 0xAC;

/// Length of a command header.
const HEADER_LEN: usize = 16;

/// Byte every benchmark message is filled with.
const FILL: u8 = 0x5A;

/// A byte-message channel between the benchmark and a peer (either end).
pub trait EchoChannel {
    /// Sends all of `bytes` (blocking while the channel is full).
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Fills all of `buf` with received bytes (blocking while the channel is
    /// empty); fails with [`io::ErrorKind::UnexpectedEof`] if the other end
    /// closed the channel first.
    fn recv_exact(&mut self, buf: &mut [u8]) -> io::Result<()>;

    /// `laps.len()` laps of `batch_len` round trips of `message` (sent,
    /// then its echo received into it), each lap's time stored in `laps`.
    /// Async channels override it to run every lap in one `block_on`, as
    /// an async application runs its round trips inside its runtime:
    /// entering the runtime once per lap would be measured too otherwise,
    /// and a lap is only a few round trips (see `measure::MIN_LAP`).
    fn timed_laps(
        &mut self,
        message: &mut [u8],
        batch_len: u64,
        laps: &mut [Duration],
    ) -> io::Result<()> {
        for lap in laps {
            let start = Instant::now();
            for _ in 0..batch_len {
                self.send(message)?;
                self.recv_exact(message)?;
            }
            *lap = start.elapsed();
        }
        Ok(())
    }
}

/// One command of the echo protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    RoundTrips { size: usize, count: u64 },
    Stream { size: usize, count: u64 },
}

impl Command {
    const ROUND_TRIPS: u32 = 1;
    const STREAM: u32 = 2;

    fn encode(self) -> [u8; HEADER_LEN] {
        let (tag, size, count) = match self {
            Command::RoundTrips { size, count } => (Self::ROUND_TRIPS, size, count),
            Command::Stream { size, count } => (Self::STREAM, size, count),
        };
        // Sizes are checked against MAX_MESSAGE_SIZE before encoding.
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        let mut header = [0; HEADER_LEN];
        header[0..4].copy_from_slice(&tag.to_le_bytes());
        header[4..8].copy_from_slice(&size.to_le_bytes());
        header[8..16].copy_from_slice(&count.to_le_bytes());
        header
    }

    fn decode(header: [u8; HEADER_LEN]) -> Result<Self, PeerRunError> {
        let [t0, t1, t2, t3, s0, s1, s2, s3, c0, c1, c2, c3, c4, c5, c6, c7] = header;
        let tag = u32::from_le_bytes([t0, t1, t2, t3]);
        let size = u32::from_le_bytes([s0, s1, s2, s3]);
        let count = u64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]);
        let size = usize::try_from(size)
            .ok()
            .filter(|size| (1..=MAX_MESSAGE_SIZE).contains(size))
            .ok_or_else(|| PeerRunError::BadCommand {
                detail: format!("message size {size} is outside 1..={MAX_MESSAGE_SIZE}"),
            })?;
        match tag {
            Self::ROUND_TRIPS => Ok(Command::RoundTrips { size, count }),
            Self::STREAM => Ok(Command::Stream { size, count }),
            _ => Err(PeerRunError::BadCommand {
                detail: format!("unknown command {tag}"),
            }),
        }
    }
}

/// The peer's side: serves commands from `channel` until the parent closes
/// it.
pub fn serve_echo(channel: &mut impl EchoChannel) -> Result<(), PeerRunError> {
    let io_error = |operation| move |source| PeerRunError::Io { operation, source };
    let mut buf = vec![0; MAX_MESSAGE_SIZE];
    loop {
        let mut header = [0; HEADER_LEN];
        match channel.recv_exact(&mut header) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(source) => return Err(io_error("receive command")(source)),
        }
        match Command::decode(header)? {
            Command::RoundTrips { size, count } => {
                let message = buf.get_mut(..size).unwrap_or_default();
                for _ in 0..count {
                    channel
                        .recv_exact(message)
                        .map_err(io_error("receive ping"))?;
                    channel.send(message).map_err(io_error("send pong"))?;
                }
            }
            Command::Stream { size, count } => {
                let message = buf.get_mut(..size).unwrap_or_default();
                for _ in 0..count {
                    channel
                        .recv_exact(message)
                        .map_err(io_error("receive stream message"))?;
                }
                channel
                    .send(&[STREAM_ACK])
                    .map_err(io_error("send stream ack"))?;
            }
        }
    }
}

/// The benchmark's side of an [`EchoChannel`] to a running peer: measures
/// round trips and streams over it.
#[derive(Debug)]
pub struct EchoClient<C> {
    channel: C,
    peer: Peer,
    buf: Vec<u8>,
}

impl<C: EchoChannel> EchoClient<C> {
    /// A client for `channel`, whose other end `peer` serves with
    /// [`serve_echo`].
    pub fn new(channel: C, peer: Peer) -> Self {
        Self {
            channel,
            peer,
            buf: vec![FILL; MAX_MESSAGE_SIZE],
        }
    }

    /// The channel (for measurements that use it directly, like a blocked
    /// receive).
    pub fn channel_mut(&mut self) -> &mut C {
        &mut self.channel
    }

    /// The peer process.
    pub fn peer_mut(&mut self) -> &mut Peer {
        &mut self.peer
    }

    /// Sends `command`'s header and returns the message buffer of its size.
    fn start(&mut self, command: Command) -> Result<&mut [u8], BenchError> {
        let (Command::RoundTrips { size, .. } | Command::Stream { size, .. }) = command;
        if !(1..=MAX_MESSAGE_SIZE).contains(&size) {
            return Err(BenchError::MessageSize {
                size,
                max: MAX_MESSAGE_SIZE,
            });
        }
        if let Err(source) = self.channel.send(&command.encode()) {
            return Err(io_failure(&mut self.peer, "send command", source));
        }
        Ok(self.buf.get_mut(..size).unwrap_or_default())
    }
}

/// The error for a failed channel operation: the peer's exit if it died
/// (the real cause), the I/O error otherwise.
fn io_failure(peer: &mut Peer, operation: &'static str, source: io::Error) -> BenchError {
    match peer.ensure_running() {
        Ok(()) => BenchError::Io {
            role: peer.role().name(),
            operation,
            source,
        },
        Err(exited) => exited,
    }
}

impl<C: EchoChannel> RoundTrip for EchoClient<C> {
    fn round_trips(
        &mut self,
        size: usize,
        batch_len: u64,
        laps: &mut [Duration],
    ) -> Result<(), BenchError> {
        let count = batch_len.saturating_mul(u64::try_from(laps.len()).unwrap_or(u64::MAX));
        self.start(Command::RoundTrips { size, count })?;
        let Self { channel, peer, buf } = self;
        let message = buf.get_mut(..size).unwrap_or_default();
        channel
            .timed_laps(message, batch_len, laps)
            .map_err(|source| io_failure(peer, "ping-pong", source))
    }
}

impl<C: EchoChannel> Stream for EchoClient<C> {
    fn stream(&mut self, size: usize, count: u64) -> Result<Duration, BenchError> {
        self.start(Command::Stream { size, count })?;
        let Self { channel, peer, buf } = self;
        let message = buf.get_mut(..size).unwrap_or_default();
        let start = Instant::now();
        for _ in 0..count {
            if let Err(source) = channel.send(message) {
                return Err(io_failure(peer, "send stream message", source));
            }
        }
        let mut ack = [0];
        if let Err(source) = channel.recv_exact(&mut ack) {
            return Err(io_failure(peer, "receive stream ack", source));
        }
        let elapsed = start.elapsed();
        if ack != [STREAM_ACK] {
            return Err(BenchError::Protocol {
                role: peer.role().name(),
                detail: format!(
                    "stream ack byte {:#04x}, expected {STREAM_ACK:#04x}",
                    ack[0]
                ),
            });
        }
        Ok(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// The peer's view of a scripted parent: reads from `input`, records
    /// what it sends.
    struct Scripted {
        input: VecDeque<u8>,
        sent: Vec<u8>,
    }

    impl EchoChannel for Scripted {
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.sent.extend_from_slice(bytes);
            Ok(())
        }

        fn recv_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
            if self.input.len() < buf.len() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            for byte in buf.iter_mut() {
                *byte = self.input.pop_front().unwrap_or_default();
            }
            Ok(())
        }
    }

    fn scripted(input: &[&[u8]]) -> Scripted {
        Scripted {
            input: input.concat().into(),
            sent: Vec::new(),
        }
    }

    #[test]
    fn headers_round_trip() {
        for command in [
            Command::RoundTrips { size: 64, count: 3 },
            Command::Stream {
                size: MAX_MESSAGE_SIZE,
                count: u64::MAX,
            },
        ] {
            assert_eq!(Command::decode(command.encode()).ok(), Some(command));
        }
    }

    #[test]
    fn bad_headers_are_rejected() {
        let mut unknown = Command::RoundTrips { size: 8, count: 1 }.encode();
        unknown[0] = 9;
        let zero_size = Command::Stream { size: 8, count: 1 }.encode();
        let mut zero_size = zero_size;
        zero_size[4..8].copy_from_slice(&0u32.to_le_bytes());
        let mut huge = Command::Stream { size: 8, count: 1 }.encode();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        for header in [unknown, zero_size, huge] {
            assert!(matches!(
                Command::decode(header),
                Err(PeerRunError::BadCommand { .. })
            ));
        }
    }

    #[test]
    fn peer_echoes_round_trips_and_acks_streams() {
        let ping = Command::RoundTrips { size: 3, count: 2 }.encode();
        let stream = Command::Stream { size: 2, count: 2 }.encode();
        let mut channel = scripted(&[&ping, b"abcdef", &stream, b"wxyz"]);
        serve_echo(&mut channel).expect("a well-formed script");
        assert_eq!(channel.sent, [b"abcdef".as_slice(), &[STREAM_ACK]].concat());
    }

    #[test]
    fn peer_fails_on_a_truncated_command() {
        let ping = Command::RoundTrips { size: 4, count: 2 }.encode();
        let mut channel = scripted(&[&ping, b"abcd", b"ef"]);
        assert!(matches!(
            serve_echo(&mut channel),
            Err(PeerRunError::Io { .. })
        ));
    }

    #[test]
    fn peer_rejects_a_bad_command() {
        let mut header = Command::Stream { size: 8, count: 1 }.encode();
        header[0] = 0;
        let mut channel = scripted(&[&header]);
        assert!(matches!(
            serve_echo(&mut channel),
            Err(PeerRunError::BadCommand { .. })
        ));
    }
}
