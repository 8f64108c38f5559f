//! The async rows (cargo feature `tokio`): the [echo protocol](super::echo)
//! over an [`AsyncStandardLink`] and over a tokio `UnixStream`, each
//! driven by a current-thread tokio runtime in the parent (with the I/O
//! and time drivers enabled as most applications have them; one
//! `block_on` for all the laps of a round-trip row, and one per send or
//! receive of the stream rows). The peers are the blocking ones of the
//! Standard link and socketpair rows, so the rows differ from those only
//! in the parent's waiting.

use std::io;
use std::time::{Duration, Instant};

use hqq_runtime::async_link::AsyncStandardLink;
use hqq_runtime::wait::WaitPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use super::cpu_time::process_cpu_time;
use super::echo::{EchoChannel, EchoClient};
use super::error::BenchError;
use super::fd::socketpair_peer;
use super::link::{config, spawn_link_peer};
use super::measure::BlockedReceive;
use super::peer::PeerRole;

fn runtime(role: PeerRole) -> Result<Runtime, BenchError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| BenchError::Io {
            role: role.name(),
            operation: "start a tokio runtime",
            source,
        })
}

/// One end of an async Standard link used as a byte-message channel.
#[derive(Debug)]
pub struct AsyncLinkChannel {
    link: AsyncStandardLink,
    runtime: Runtime,
}

impl EchoChannel for AsyncLinkChannel {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let link = &self.link;
        self.runtime.block_on(send(link, bytes))
    }

    fn recv_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let link = &self.link;
        self.runtime.block_on(recv_exact(link, buf))
    }

    fn timed_laps(
        &mut self,
        message: &mut [u8],
        batch_len: u64,
        laps: &mut [Duration],
    ) -> io::Result<()> {
        timed_laps_in(&self.runtime, &mut self.link, message, batch_len, laps)
    }
}

/// An async end that echoes: one round trip of a message.
trait AsyncRoundTrip {
    /// Sends `message` and receives its echo into it.
    async fn round_trip(&mut self, message: &mut [u8]) -> io::Result<()>;
}

impl AsyncRoundTrip for AsyncStandardLink {
    async fn round_trip(&mut self, message: &mut [u8]) -> io::Result<()> {
        send(self, message).await?;
        recv_exact(self, message).await
    }
}

impl AsyncRoundTrip for tokio::net::UnixStream {
    async fn round_trip(&mut self, message: &mut [u8]) -> io::Result<()> {
        self.write_all(message).await?;
        self.read_exact(message).await.map(drop)
    }
}

/// [`EchoChannel::timed_laps`] for an async end: every lap in one
/// `block_on` of `runtime`.
fn timed_laps_in(
    runtime: &Runtime,
    end: &mut impl AsyncRoundTrip,
    message: &mut [u8],
    batch_len: u64,
    laps: &mut [Duration],
) -> io::Result<()> {
    runtime.block_on(async {
        for lap in laps {
            let start = Instant::now();
            for _ in 0..batch_len {
                end.round_trip(message).await?;
            }
            *lap = start.elapsed();
        }
        Ok(())
    })
}

/// Sends `bytes` as messages of at most a buffer each.
async fn send(link: &AsyncStandardLink, bytes: &[u8]) -> io::Result<()> {
    for message in bytes.chunks(link.get_ref().buffer_size()) {
        link.send(message).await?;
    }
    Ok(())
}

/// Fills `buf` with received messages.
async fn recv_exact(link: &AsyncStandardLink, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        filled += link.recv(rest).await?;
    }
    Ok(())
}

/// The echo client over an async Standard link.
pub type AsyncLinkClient = EchoClient<AsyncLinkChannel>;

/// Creates the link (as its primary) and starts the Standard link's echo
/// peer; `spin` is how long a waiting task re-polls itself before it
/// registers with the waiter thread. A dead peer ends a wait with
/// `PeerGone` (async operations have no timeout of their own).
pub fn spawn_async_link(spin: Duration) -> Result<AsyncLinkClient, BenchError> {
    let mut config = config();
    config.wait_policy(WaitPolicy {
        spin,
        ..WaitPolicy::WAKE_WORDS
    });
    let (link, peer) = spawn_link_peer(&config)?;
    let channel = AsyncLinkChannel {
        link: AsyncStandardLink::new(link),
        runtime: runtime(PeerRole::LinkEcho)?,
    };
    Ok(EchoClient::new(channel, peer))
}

/// A task awaiting a receive on a silent link, until a tokio timeout: the
/// task's thread and the waiter thread are both counted.
impl BlockedReceive for AsyncLinkClient {
    fn block(&mut self, duration: Duration) -> Result<(), BenchError> {
        let channel = self.channel_mut();
        let link = &channel.link;
        let mut byte = [0];
        let result = channel
            .runtime
            .block_on(async { tokio::time::timeout(duration, link.recv(&mut byte)).await });
        match result {
            Err(_elapsed) => self.peer_mut().ensure_running(),
            Ok(Ok(_)) => Err(BenchError::Protocol {
                role: PeerRole::LinkEcho.name(),
                detail: "the idle peer sent data".to_owned(),
            }),
            Ok(Err(error)) => Err(BenchError::Io {
                role: PeerRole::LinkEcho.name(),
                operation: "receive",
                source: io::Error::from(error),
            }),
        }
    }

    fn cpu_time(&self) -> Result<Duration, BenchError> {
        process_cpu_time()
    }
}

/// Our end of a socketpair as a tokio `UnixStream`.
#[derive(Debug)]
pub struct TokioUnixChannel {
    stream: tokio::net::UnixStream,
    runtime: Runtime,
}

impl EchoChannel for TokioUnixChannel {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = &mut self.stream;
        self.runtime.block_on(stream.write_all(bytes))
    }

    fn recv_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let stream = &mut self.stream;
        self.runtime.block_on(stream.read_exact(buf)).map(drop)
    }

    fn timed_laps(
        &mut self,
        message: &mut [u8],
        batch_len: u64,
        laps: &mut [Duration],
    ) -> io::Result<()> {
        timed_laps_in(&self.runtime, &mut self.stream, message, batch_len, laps)
    }
}

/// The echo client over a tokio `UnixStream`.
pub type TokioUnixClient = EchoClient<TokioUnixChannel>;

/// Starts the socketpair echo peer and wraps our end in tokio.
pub fn spawn_tokio_unix() -> Result<TokioUnixClient, BenchError> {
    let role = PeerRole::FdEcho;
    let io_error = |operation| {
        move |source| BenchError::Io {
            role: role.name(),
            operation,
            source,
        }
    };
    let (ours, peer) = socketpair_peer()?;
    ours.set_nonblocking(true)
        .map_err(io_error("set_nonblocking"))?;
    let runtime = runtime(role)?;
    let stream = {
        let _entered = runtime.enter();
        tokio::net::UnixStream::from_std(ours).map_err(io_error("register with tokio"))?
    };
    Ok(EchoClient::new(TokioUnixChannel { stream, runtime }, peer))
}
