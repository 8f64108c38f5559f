//! Where an async send takes a message's bytes from, chunk by chunk: a
//! slice (each chunk is filled straight from it), an `AsyncRead` (each
//! chunk is read into a buffer of one chunk first, then filled from it, so
//! the message never sits whole in memory), or either of them sealed as
//! the blocking link seals (frame by frame with the link's
//! [`Sealer`](crate::advanced::encryption)): each chunk's sealed bytes are
//! staged first, and a reader's next plain frame is read before it is
//! sealed, so sealing never waits for the reader.

use std::io::{self, Cursor, Read};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::advanced::encryption::SealedSource;

/// The plain bytes a sealed message is sealed from.
pub(super) enum Plain<'a> {
    /// The whole message.
    Slice(&'a [u8]),
    /// The reader's current frame, read ahead (see [`MessageSource::poll_stage`]).
    Frame(Cursor<Vec<u8>>),
}

impl Read for Plain<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Plain::Slice(slice) => slice.read(buf),
            Plain::Frame(frame) => frame.read(buf),
        }
    }
}

/// The bytes of one message being sent.
// The sealed variant holds a short frame inline (so sealing a small message
// allocates nothing); boxing it to shrink the enum would put that
// allocation back, once per message, for a value that lives in one future.
#[allow(clippy::large_enum_variant)]
pub(super) enum MessageSource<'a> {
    /// The whole message.
    Slice(&'a [u8]),
    /// A reader and the chunk read from it so far.
    Reader {
        reader: &'a mut (dyn AsyncRead + Send + Unpin),
        staged: Vec<u8>,
    },
    /// The sealed form of a slice (no reader) or of a reader's bytes, and
    /// the chunk of it staged so far.
    Sealed {
        sealed: SealedSource<'a, Plain<'a>>,
        reader: Option<&'a mut (dyn AsyncRead + Send + Unpin)>,
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

    /// A source of `sealed` bytes (sealed from `reader`, if any, else from
    /// a slice).
    pub(super) fn sealed(
        sealed: SealedSource<'a, Plain<'a>>,
        reader: Option<&'a mut (dyn AsyncRead + Send + Unpin)>,
    ) -> Self {
        MessageSource::Sealed {
            sealed,
            reader,
            staged: Vec::new(),
        }
    }

    /// Makes the `size` bytes of the next chunk ready: at once for a
    /// slice; for a reader, reads until it has them (an error, or the end
    /// of the reader first, fails). What was read stays staged across
    /// polls, so a pending read loses nothing.
    pub(super) fn poll_stage(&mut self, cx: &mut Context<'_>, size: usize) -> Poll<io::Result<()>> {
        match self {
            MessageSource::Slice(_) => Poll::Ready(Ok(())),
            MessageSource::Reader { reader, staged } => poll_fill(&mut **reader, cx, staged, size),
            MessageSource::Sealed {
                sealed,
                reader,
                staged,
            } => {
                while staged.len() < size {
                    if let Some(reader) = reader {
                        ready!(poll_next_frame(sealed, &mut **reader, cx))?;
                    }
                    let filled = staged.len();
                    staged.resize(size, 0);
                    let read = sealed.read(staged.get_mut(filled..).unwrap_or_default());
                    staged.truncate(filled + read.as_ref().map_or(0, |n| *n));
                    match read {
                        Err(e) => return Poll::Ready(Err(e)),
                        Ok(0) => return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into())),
                        Ok(_) => {}
                    }
                }
                Poll::Ready(Ok(()))
            }
        }
    }

    /// The bytes from the staged chunk at `offset` on (for a slice, the
    /// rest of the message from `offset`).
    pub(super) fn staged(&self, offset: u64) -> &[u8] {
        match self {
            MessageSource::Slice(wire) => usize::try_from(offset)
                .ok()
                .and_then(|offset| wire.get(offset..))
                .unwrap_or_default(),
            MessageSource::Reader { staged, .. } | MessageSource::Sealed { staged, .. } => staged,
        }
    }

    /// The chunk was sent: the next one is staged afresh.
    pub(super) fn sent(&mut self) {
        if let MessageSource::Reader { staged, .. } | MessageSource::Sealed { staged, .. } = self {
            staged.clear();
        }
    }

    /// Time spent sealing so far (0 for a plain source).
    pub(super) fn seal_nanos(&self) -> u64 {
        match self {
            MessageSource::Sealed { sealed, .. } => sealed.nanos(),
            _ => 0,
        }
    }
}

/// Reads from `reader` until `buf` holds `size` bytes (an error, or the
/// end of the reader first, fails); what was read stays in `buf`.
fn poll_fill(
    reader: &mut (dyn AsyncRead + Send + Unpin),
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
    size: usize,
) -> Poll<io::Result<()>> {
    while buf.len() < size {
        let filled = buf.len();
        buf.resize(size, 0);
        let mut room = ReadBuf::new(buf.get_mut(filled..).unwrap_or_default());
        let read = Pin::new(&mut *reader).poll_read(cx, &mut room);
        let got = room.filled().len();
        buf.truncate(filled + got);
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

/// Reads the plain frame the sealer takes next from `reader` into its
/// [`Plain::Frame`] (nothing if it takes none now).
fn poll_next_frame(
    sealed: &mut SealedSource<'_, Plain<'_>>,
    reader: &mut (dyn AsyncRead + Send + Unpin),
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    let wanted = sealed.plain_wanted();
    let Plain::Frame(frame) = sealed.source_mut() else {
        return Poll::Ready(Ok(()));
    };
    if wanted == 0 {
        return Poll::Ready(Ok(()));
    }
    // The sealer takes whole frames: a consumed one makes room for the next.
    if frame.position() == frame.get_ref().len() as u64 {
        frame.get_mut().clear();
        frame.set_position(0);
    }
    poll_fill(reader, cx, frame.get_mut(), wanted)
}
