//! The kernel baselines: a Unix `socketpair(AF_UNIX, SOCK_STREAM)` and a
//! pair of pipes, each carrying the [echo protocol](super::echo) to a peer
//! process.
//!
//! The peer's end is handed over as the peer's stdin and stdout (the kernel
//! `dup2`s it into place while spawning), so the peer finds it at fds 0 and
//! 1 and no descriptor numbers or close-on-exec flags need managing.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::Duration;

use super::echo::{EchoChannel, EchoClient};
use super::error::{BenchError, PeerRunError};
use super::measure::BlockedReceive;
use super::peer::{Peer, PeerRole};

/// A channel made of a readable and a writable file descriptor (the two
/// directions of a socket, or two pipes).
#[derive(Debug)]
pub struct FdChannel<R, W> {
    input: R,
    output: W,
}

impl<R: Read, W: Write> EchoChannel for FdChannel<R, W> {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.output.write_all(bytes)
    }

    fn recv_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.input.read_exact(buf)
    }
}

/// The echo client over a socketpair.
pub type SocketPairClient = EchoClient<FdChannel<UnixStream, UnixStream>>;

/// The echo client over two pipes.
pub type PipeClient = EchoClient<FdChannel<std::process::ChildStdout, std::process::ChildStdin>>;

/// Starts an echo peer connected by a Unix socketpair.
pub fn spawn_socketpair() -> Result<SocketPairClient, BenchError> {
    let (input, peer) = socketpair_peer()?;
    let output = input.try_clone().map_err(|source| BenchError::Io {
        role: PeerRole::FdEcho.name(),
        operation: "dup",
        source,
    })?;
    Ok(EchoClient::new(FdChannel { input, output }, peer))
}

/// Starts an echo peer on the other end of a new Unix socketpair and
/// returns our end.
pub(super) fn socketpair_peer() -> Result<(UnixStream, Peer), BenchError> {
    let role = PeerRole::FdEcho;
    let io_error = |operation| {
        move |source| BenchError::Io {
            role: role.name(),
            operation,
            source,
        }
    };
    let (ours, theirs) = UnixStream::pair().map_err(io_error("socketpair"))?;
    let theirs_out = theirs.try_clone().map_err(io_error("dup"))?;
    let peer = Peer::spawn(
        role,
        &[],
        Stdio::from(OwnedFd::from(theirs)),
        Stdio::from(OwnedFd::from(theirs_out)),
    )?;
    Ok((ours, peer))
}

/// Starts an echo peer connected by two pipes (one each way).
pub fn spawn_pipe() -> Result<PipeClient, BenchError> {
    let mut peer = Peer::spawn(PeerRole::FdEcho, &[], Stdio::piped(), Stdio::piped())?;
    let (Some(output), Some(input)) = (peer.take_stdin(), peer.take_stdout()) else {
        return Err(BenchError::Protocol {
            role: peer.role().name(),
            detail: "the peer's pipes were not created".to_owned(),
        });
    };
    Ok(EchoClient::new(FdChannel { input, output }, peer))
}

/// The peer's side of either transport: its stdin and stdout, unbuffered.
pub(super) fn stdio_channel() -> Result<FdChannel<File, File>, PeerRunError> {
    let dup = |fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .map(File::from)
            .map_err(|source| PeerRunError::Io {
                operation: "dup",
                source,
            })
    };
    Ok(FdChannel {
        input: dup(io::stdin().as_fd())?,
        output: dup(io::stdout().as_fd())?,
    })
}

/// A receive blocked in the kernel: the idle baseline.
impl BlockedReceive for SocketPairClient {
    fn block(&mut self, duration: Duration) -> Result<(), BenchError> {
        let role = self.peer_mut().role().name();
        let socket = &mut self.channel_mut().input;
        let io_error = |operation, source| BenchError::Io {
            role,
            operation,
            source,
        };
        socket
            .set_read_timeout(Some(duration))
            .map_err(|source| io_error("set_read_timeout", source))?;
        let mut byte = [0];
        let result = socket.read(&mut byte);
        socket
            .set_read_timeout(None)
            .map_err(|source| io_error("set_read_timeout", source))?;
        match result {
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(())
            }
            Err(source) => Err(io_error("receive", source)),
            Ok(_) => Err(BenchError::Protocol {
                role,
                detail: "the idle peer sent data".to_owned(),
            }),
        }
    }
}
