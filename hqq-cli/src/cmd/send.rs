//! `hqq send NAME`: reads stdin and sends it, one message per line (the
//! default) or per block of `--chunk B` bytes, then an end-of-stream packet.
//!
//! In line mode each message is one line *with* its `\n` (so an empty line
//! is the 1-byte message `"\n"`, and the bytes arrive unchanged); a line
//! longer than the buffer size is split into several messages of at most
//! the buffer size.
//!
//! With `--create`, start the receiver before the input ends: the name
//! leaves `/dev/shm` when `send` exits, and a receiver that has not opened
//! it by then cannot find it (one that has keeps reading). Giving
//! `--create` to `hqq recv` instead avoids the race.

use std::io::{self, BufRead, Read};

use clap::Args;
use hqq_runtime::link::{LinkSendError, StandardLink};

use super::link::{end_of_stream, IdleTimeout, LinkArgs, OpenError};

/// Arguments of `hqq send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub link: LinkArgs,
    /// Send binary blocks of B bytes (1 to the buffer size; the last one
    /// may be shorter) instead of lines.
    #[arg(long, value_name = "B")]
    pub chunk: Option<usize>,
}

/// Why `hqq send` failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// `--chunk` is out of range.
    #[error("--chunk {chunk} is not between 1 and the buffer size {max}")]
    Chunk {
        /// The requested block size.
        chunk: usize,
        /// The buffer size.
        max: usize,
    },
    /// The link could not be opened.
    #[error("opening the link")]
    Open(#[from] OpenError),
    /// The ring stayed full for the `--timeout` duration.
    #[error("waiting for a free slot")]
    Idle(#[from] IdleTimeout),
    /// Reading stdin failed.
    #[error("reading stdin")]
    Stdin(#[from] io::Error),
    /// Sending failed.
    #[error("sending")]
    Send(#[from] LinkSendError),
}

/// Sends stdin, then the end-of-stream packet.
pub fn run(args: &SendArgs) -> Result<(), SendError> {
    let link = args.link.open()?;
    let max = link.buffer_size();
    let stdin = io::stdin().lock();
    let idle = |error| match error {
        SendError::Send(LinkSendError::TimedOut) => {
            IdleTimeout(args.link.timeout.unwrap_or_default()).into()
        }
        error => error,
    };
    match args.chunk {
        Some(chunk) if chunk == 0 || chunk > max => return Err(SendError::Chunk { chunk, max }),
        Some(chunk) => send_blocks(&link, stdin, chunk).map_err(idle)?,
        None => send_lines(&link, stdin, max).map_err(idle)?,
    }
    link.send_packet(end_of_stream(), &[])
        .map_err(|e| idle(e.into()))?;
    Ok(())
}

fn send_lines(link: &StandardLink, mut input: impl BufRead, max: usize) -> Result<(), SendError> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        for piece in line.chunks(max) {
            link.send(piece)?;
        }
    }
}

fn send_blocks(link: &StandardLink, mut input: impl Read, chunk: usize) -> Result<(), SendError> {
    let mut block = vec![0u8; chunk];
    loop {
        let mut filled = 0;
        while filled < chunk {
            match input.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error.into()),
            }
        }
        if filled == 0 {
            return Ok(());
        }
        link.send(&block[..filled])?;
        if filled < chunk {
            return Ok(());
        }
    }
}
