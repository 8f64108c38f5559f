//! [`AsyncStandardLink`]: a [`StandardLink`] whose waits are futures.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use crate::link::{LinkRecvError, LinkSendError, RecvReservation, SendReservation, StandardLink};
use crate::packet::Packet;
use crate::payload_view::PayloadView;

use super::readiness::{PeerGone, Readiness};
use super::watcher::Interest;

/// A [`StandardLink`] with async operations: each tries the ring at once
/// and, while it is full or empty, waits without blocking its thread (see
/// the [module docs](super)).
///
/// The async methods take `&self`: any number of tasks may send and
/// receive on one link concurrently, each future with its own wait. The
/// `poll_*_ready` building blocks (and the `AsyncRead`/`AsyncWrite`
/// impls built on them) keep one wait per direction in the link, as
/// tokio's sockets do: only the task that polled last is woken.
///
/// Blocking and `try_` operations stay available through
/// [`get_ref`](Self::get_ref). The link's read and write timeouts do not
/// apply to async operations: wrap them in `tokio::time::timeout`, which
/// is fine as every operation is cancel-safe.
#[derive(Debug)]
pub struct AsyncStandardLink {
    link: Arc<StandardLink>,
    /// The waits of `poll_recv_ready` and `poll_send_ready`.
    recv_ready: Mutex<Readiness>,
    send_ready: Mutex<Readiness>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AsyncStandardLink>();
};

impl From<StandardLink> for AsyncStandardLink {
    fn from(link: StandardLink) -> Self {
        AsyncStandardLink::new(link)
    }
}

fn lock(readiness: &Mutex<Readiness>) -> MutexGuard<'_, Readiness> {
    // A readiness is consistent whenever its lock is free.
    readiness.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AsyncStandardLink {
    /// Makes `link`'s waits async.
    pub fn new(link: StandardLink) -> Self {
        AsyncStandardLink::from_arc(Arc::new(link))
    }

    /// Makes the waits of a shared link async (other holders may keep
    /// using it with blocking calls).
    pub fn from_arc(link: Arc<StandardLink>) -> Self {
        AsyncStandardLink {
            link,
            recv_ready: Mutex::new(Readiness::spinning_in_place()),
            send_ready: Mutex::new(Readiness::spinning_in_place()),
        }
    }

    /// The link, for its blocking and `try_` operations and its accessors.
    pub fn get_ref(&self) -> &StandardLink {
        &self.link
    }

    /// The shared link.
    pub fn link(&self) -> &Arc<StandardLink> {
        &self.link
    }

    // ---- readiness ------------------------------------------------------

    /// Polls for a message to receive: `Ready(Ok(()))` once the receive
    /// ring has one (then a `try_` receive, e.g. via [`get_ref`](Self::get_ref),
    /// usually succeeds; readiness can be spurious, and another consumer
    /// may take the message first), `Ready(Err(PeerGone))` once every
    /// process on the other side is dead. While pending, only the waker of
    /// the most recent call is woken.
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), LinkRecvError>> {
        lock(&self.recv_ready)
            .poll_ready(&self.link, Interest::Data, cx)
            .map_err(|PeerGone| LinkRecvError::PeerGone)
    }

    /// Polls for a free slot to send in; see
    /// [`poll_recv_ready`](Self::poll_recv_ready).
    pub fn poll_send_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), LinkSendError>> {
        lock(&self.send_ready)
            .poll_ready(&self.link, Interest::Space, cx)
            .map_err(|PeerGone| LinkSendError::PeerGone)
    }

    /// Waits until a message looks ready to receive (see
    /// [`poll_recv_ready`](Self::poll_recv_ready); any number of tasks may
    /// wait at once).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only waits.
    pub async fn recv_ready(&self) -> Result<(), LinkRecvError> {
        Readiness::spinning_in_place()
            .ready(&self.link, Interest::Data)
            .await
            .map_err(|PeerGone| LinkRecvError::PeerGone)
    }

    /// Waits until a free slot looks ready to send in.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only waits.
    pub async fn send_ready(&self) -> Result<(), LinkSendError> {
        Readiness::spinning_in_place()
            .ready(&self.link, Interest::Space)
            .await
            .map_err(|PeerGone| LinkSendError::PeerGone)
    }

    /// Runs the non-blocking `op` until it does not fail with
    /// `WouldBlock`, waiting for space in between.
    async fn on_send<'a, T>(
        &'a self,
        mut op: impl FnMut(&'a StandardLink) -> Result<T, LinkSendError>,
    ) -> Result<T, LinkSendError> {
        let mut ready = Readiness::spinning_in_place();
        loop {
            match op(&self.link) {
                Err(LinkSendError::WouldBlock) => ready
                    .ready(&self.link, Interest::Space)
                    .await
                    .map_err(|PeerGone| LinkSendError::PeerGone)?,
                result => return result,
            }
        }
    }

    /// Runs the non-blocking `op` until it does not fail with
    /// `WouldBlock`, waiting for data in between.
    async fn on_recv<'a, T>(
        &'a self,
        mut op: impl FnMut(&'a StandardLink) -> Result<T, LinkRecvError>,
    ) -> Result<T, LinkRecvError> {
        let mut ready = Readiness::spinning_in_place();
        loop {
            match op(&self.link) {
                Err(LinkRecvError::WouldBlock) => ready
                    .ready(&self.link, Interest::Data)
                    .await
                    .map_err(|PeerGone| LinkRecvError::PeerGone)?,
                result => return result,
            }
        }
    }

    // ---- copy API -------------------------------------------------------

    /// Sends `data` (1 to [`buffer_size`](StandardLink::buffer_size) bytes)
    /// as one message, waiting while the ring is full. See
    /// [`StandardLink::send`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if the future is dropped before it completes, the
    /// message was not sent (a send happens whole, within one poll).
    pub async fn send(&self, data: &[u8]) -> Result<(), LinkSendError> {
        self.on_send(|link| link.try_send(data)).await
    }

    /// Receives one message into `buf` and returns its length, waiting
    /// while none is there. A message longer than `buf` is returned in
    /// parts, as by [`StandardLink::recv`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if the future is dropped before it completes, no
    /// message was taken (a receive happens within one poll), so the next
    /// receive gets it.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize, LinkRecvError> {
        self.on_recv(|link| link.try_recv(buf)).await
    }

    /// Receives a message in place: `read` gets a view of its bytes in
    /// shared memory (see [`PayloadView`]), and the slot is released when
    /// `read` returns. See [`StandardLink::recv_with`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: `read` runs within the poll that takes the message,
    /// so a dropped future took nothing and ran nothing.
    pub async fn recv_with<R>(
        &self,
        read: impl FnOnce(PayloadView<'_>) -> R,
    ) -> Result<R, LinkRecvError> {
        let mut read = Some(read);
        loop {
            // `try_recv_with` calls its closure only when it succeeds, so
            // `read` is still there on every retry.
            let value = self
                .on_recv(|link| link.try_recv_with(|view| read.take().map(|read| read(view))))
                .await?;
            if let Some(value) = value {
                return Ok(value);
            }
        }
    }

    // ---- zero-copy API --------------------------------------------------

    /// Sends a message written in place: `fill` gets the claimed slot's
    /// whole buffer and returns the message length. See
    /// [`StandardLink::send_with`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the slot is claimed, filled and published within one
    /// poll.
    pub async fn send_with(
        &self,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), LinkSendError> {
        let mut slot = self.reserve_send().await?;
        let len = fill(slot.buffer_mut());
        slot.commit(len)
    }

    /// Claims a free slot to fill in place, waiting while the ring is full.
    /// See [`SendReservation`]: dropping it publishes a tombstone, so do
    /// not hold it across long awaits (other senders may wait for the ring
    /// to move on).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the slot is claimed in the poll that returns it, so a
    /// dropped future holds no slot.
    pub async fn reserve_send(&self) -> Result<SendReservation<'_>, LinkSendError> {
        self.on_send(StandardLink::try_reserve_send).await
    }

    /// Claims the next message to read in place, waiting while none is
    /// there. See [`StandardLink::reserve_recv`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the message is claimed in the poll that returns it.
    pub async fn reserve_recv(&self) -> Result<RecvReservation<'_>, LinkRecvError> {
        self.on_recv(StandardLink::try_reserve_recv).await
    }

    // ---- raw packets ----------------------------------------------------

    /// Publishes `packet` as it is, with `payload` copied to the start of
    /// the slot's buffer. See [`StandardLink::send_packet`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the packet is published whole within one poll, or not
    /// at all.
    pub async fn send_packet(&self, packet: Packet, payload: &[u8]) -> Result<(), LinkSendError> {
        self.on_send(|link| link.try_send_packet(packet, payload))
            .await
    }

    /// Claims a slot and publishes the packet that `build` returns; `build`
    /// gets the slot index and its whole buffer. See
    /// [`StandardLink::send_packet_with`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: `build` runs, and the packet is published, within the
    /// poll that claims the slot.
    pub async fn send_packet_with(
        &self,
        build: impl FnOnce(usize, &mut [u8]) -> Packet,
    ) -> Result<(), LinkSendError> {
        let mut slot = self.reserve_send().await?;
        let packet = build(slot.index(), slot.buffer_mut());
        slot.commit_packet(packet);
        Ok(())
    }

    /// Receives the next packet of any opcode, unvalidated. See
    /// [`StandardLink::recv_packet`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the packet is claimed in the poll that returns it.
    pub async fn recv_packet(&self) -> Result<RecvReservation<'_>, LinkRecvError> {
        self.on_recv(StandardLink::try_recv_packet).await
    }
}
