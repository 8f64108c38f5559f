//! Where an async send takes a message's bytes from, chunk by chunk: a
//! slice (each chunk is filled straight from it) or an `AsyncRead` (each
//! chunk is read into a buffer of one chunk first, then filled from it, so
//! the message never sits whole in memory).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The bytes of one message being sent.
pub(super) enum MessageSource<'a> {
    /// The whole message.
    Slice(&'a [u8]),
    /// A reader and the chunk read from it so far.
    Reader {
        reader: &'a mut (dyn AsyncRead + Send + Unpin),
        staged: Vec<u8>,
    },
}

impl<'a> MessageSource<'a> {
    /// A source reading from `reader`.
    pub(super) fn reader(reader: &'a mut (dyn AsyncRead + Send + Unpin)) -> Self {
        MessageSource::Reader {
            reader,
            staged: Vec::new(),
        }
    }

    /// Makes the `size` bytes of the next chunk ready: at once for a
    /// slice; for a reader, reads until it has them (an error, or the end
    /// of the reader first, fails). What was read stays staged across
    /// polls, so a pending read loses nothing.
    pub(super) fn poll_stage(&mut self, cx: &mut Context<'_>, size: usize) -> Poll<io::Result<()>> {
        let MessageSource::Reader { reader, staged } = self else {
            return Poll::Ready(Ok(()));
        };
        while staged.len() < size {
            let filled = staged.len();
            staged.resize(size, 0);
            let mut buf = ReadBuf::new(staged.get_mut(filled..).unwrap_or_default());
            let read = Pin::new(&mut **reader).poll_read(cx, &mut buf);
            let got = buf.filled().len();
            staged.truncate(filled + got);
            match read {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if got == 0 => {
                    return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                }
                Poll::Ready(Ok(())) => {}
            }
        }
        Poll::Ready(Ok(()))
    }

    /// The bytes from the staged chunk at `offset` on (for a slice, the
    /// rest of the message from `offset`).
    pub(super) fn staged(&self, offset: u64) -> &[u8] {
        match self {
            MessageSource::Slice(wire) => usize::try_from(offset)
                .ok()
                .and_then(|offset| wire.get(offset..))
                .unwrap_or_default(),
            MessageSource::Reader { staged, .. } => staged,
        }
    }

    /// The chunk was sent: the next one is staged afresh.
    pub(super) fn sent(&mut self) {
        if let MessageSource::Reader { staged, .. } = self {
            staged.clear();
        }
    }
}
