//! `tokio::io::AsyncRead` and `AsyncWrite` for [`AsyncStandardLink`], with
//! the semantics of the blocking `std::io` impls (see `link::io`): a
//! write sends one message of at most
//! [`buffer_size`](crate::link::StandardLink::buffer_size) bytes and
//! returns how many it took; a read returns one message, or as much of it
//! as fits, with the rest on the next read. A link has no end of stream,
//! so a read never returns 0 bytes into a non-empty buffer.
//!
//! Cancel safety is that of the `AsyncReadExt::read`/`AsyncWriteExt::write`
//! futures: a read or write happens whole within one poll, so one that
//! was dropped took or sent nothing. The wait stays registered in the link
//! (one per direction, as tokio's sockets keep theirs) until the ring
//! becomes ready or the link is dropped.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::link::{LinkRecvError, LinkSendError};

use super::standard::AsyncStandardLink;

impl AsyncRead for AsyncStandardLink {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match self.get_ref().try_recv(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(LinkRecvError::WouldBlock) => ready!(self.poll_recv_ready(cx))?,
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }
}

impl AsyncWrite for AsyncStandardLink {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.get_ref().buffer_size());
        let Some(message) = buf.get(..n).filter(|m| !m.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        loop {
            match self.get_ref().try_send(message) {
                Ok(()) => return Poll::Ready(Ok(n)),
                Err(LinkSendError::WouldBlock) => ready!(self.poll_send_ready(cx))?,
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Every write is published when it returns.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A link has no end of stream to signal.
        Poll::Ready(Ok(()))
    }
}
