//! The hqq transport: a [`StandardLink`] on a named segment, carrying the
//! [echo protocol](super::echo) to a peer process that opens the same
//! segment as the secondary.
//!
//! The link carries messages of at most one buffer; [`LinkChannel`] sends
//! longer byte runs as several messages and receives with partial reads,
//! so the echo protocol's 16-byte headers and 64 B / 4 KiB messages each
//! travel as one message.

use std::io;
use std::process::Stdio;
use std::time::Duration;

use hqq_runtime::link::{LinkConfig, LinkRecvError, StandardLink};

use super::echo::{serve_echo, EchoChannel, EchoClient};
use super::error::{BenchError, PeerRunError};
use super::measure::BlockedReceive;
use super::peer::{env_value, Peer, PeerRole};
use super::segment_name;

/// Environment variable with the link segment's name.
const SEGMENT_ENV: &str = "HQQ_BENCH_LINK_SEGMENT";

/// Ring slots per direction.
const SLOTS: u64 = 512;

/// Bytes per buffer: the largest message size of the suite.
const BUFFER_SIZE: u64 = 4096;

/// How long the parent waits in one send or receive before it checks
/// whether the peer died (a link has no end-of-file).
const PARENT_PATIENCE: Duration = Duration::from_secs(10);

/// How long the peer waits for the parent's segment to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(SLOTS)
        .buffer_size(BUFFER_SIZE)
        .ready_timeout(READY_TIMEOUT);
    config
}

/// One end of a Standard link used as a byte-message channel.
#[derive(Debug)]
pub struct LinkChannel {
    link: StandardLink,
}

impl EchoChannel for LinkChannel {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        for message in bytes.chunks(self.link.buffer_size()) {
            self.link.send(message)?;
        }
        Ok(())
    }

    fn recv_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
            filled += self.link.recv(rest)?;
        }
        Ok(())
    }
}

/// The echo client over a Standard link.
pub type LinkClient = EchoClient<LinkChannel>;

/// Creates the link (as its primary) and starts an echo peer that opens it.
pub fn spawn_link() -> Result<LinkClient, BenchError> {
    let (link, peer) = spawn_link_peer(&config())?;
    link.set_read_timeout(Some(PARENT_PATIENCE));
    link.set_write_timeout(Some(PARENT_PATIENCE));
    Ok(EchoClient::new(LinkChannel { link }, peer))
}

/// Creates a link with `parent`'s configuration (as its primary; the
/// slots and buffer size must be those of [`config`]) and starts the echo
/// peer that opens it.
pub(super) fn spawn_link_peer(parent: &LinkConfig) -> Result<(StandardLink, Peer), BenchError> {
    let name = segment_name("link");
    let link = StandardLink::create(&name, parent).map_err(BenchError::LinkCreate)?;
    let peer = Peer::spawn(
        PeerRole::LinkEcho,
        &[(SEGMENT_ENV, &name)],
        Stdio::null(),
        Stdio::null(),
    )?;
    Ok((link, peer))
}

/// A receive blocked on an empty link while the peer (waiting for a
/// command) sends nothing: spin, yield, then timed futex parks.
impl BlockedReceive for LinkClient {
    fn block(&mut self, duration: Duration) -> Result<(), BenchError> {
        let mut byte = [0];
        match self.channel_mut().link.recv_timeout(&mut byte, duration) {
            Err(LinkRecvError::TimedOut) => self.peer_mut().ensure_running(),
            Ok(_) => Err(BenchError::Protocol {
                role: PeerRole::LinkEcho.name(),
                detail: "the idle peer sent data".to_owned(),
            }),
            Err(error) => Err(BenchError::Io {
                role: PeerRole::LinkEcho.name(),
                operation: "receive",
                source: error.into(),
            }),
        }
    }
}

/// The peer's side: opens the link as a secondary and serves echo
/// commands until the parent ends the process.
pub(super) fn serve_peer() -> Result<(), PeerRunError> {
    let name: String = env_value(SEGMENT_ENV)?;
    let link = StandardLink::open(&name, &config()).map_err(PeerRunError::LinkOpen)?;
    serve_echo(&mut LinkChannel { link })
}
