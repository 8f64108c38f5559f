//! Reservations: a claimed slot held by the caller to fill or read in place.

use std::mem::ManuallyDrop;

use crate::packet::Packet;
use crate::payload_view::PayloadView;
use crate::ring::{RecvClaim, SendClaim};

use super::error::LinkSendError;
use super::standard::StandardLink;

/// A free slot claimed for sending, to fill in place
/// ([`StandardLink::reserve_send`]).
///
/// [`commit`](Self::commit) publishes the buffer's first `len` bytes as a
/// message; [`abort`](Self::abort), or dropping the reservation, publishes a
/// StandardLinkTombstone instead, which receivers skip (the slot must be
/// published either way for the ring to move on, so do not hold a
/// reservation longer than needed).
///
/// ```
/// use hqq_runtime::link::{LinkConfig, StandardLink};
///
/// let (a, b) = StandardLink::pair(LinkConfig::new().slots(4).buffer_size(64))?;
/// let mut slot = a.reserve_send()?;
/// slot.buffer_mut()[..3].copy_from_slice(b"abc");
/// slot.commit(3)?;
/// let message = b.reserve_recv()?;
/// assert_eq!(message.payload(), b"abc");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a SendReservation publishes a tombstone"]
#[derive(Debug)]
pub struct SendReservation<'a> {
    link: &'a StandardLink,
    claim: ManuallyDrop<SendClaim<'a>>,
}

impl<'a> SendReservation<'a> {
    pub(crate) fn new(link: &'a StandardLink, claim: SendClaim<'a>) -> Self {
        SendReservation {
            link,
            claim: ManuallyDrop::new(claim),
        }
    }

    fn into_claim(self) -> SendClaim<'a> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the claim is taken exactly once
        // and never used through `this` again.
        unsafe { ManuallyDrop::take(&mut this.claim) }
    }

    /// The slot index, which is also the index of its buffer.
    pub fn index(&self) -> usize {
        self.claim.index()
    }

    /// The slot's whole buffer ([`StandardLink::buffer_size`] bytes) to
    /// write the message into. Within this process it is this
    /// reservation's alone (see [`SendClaim::payload_mut`]); a peer that
    /// breaks the protocol could still scribble on it, garbling only the
    /// message.
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.claim.payload_mut()
    }

    /// Publishes the buffer's first `len` bytes as one message. A length of
    /// 0 or above the buffer size publishes a tombstone instead and fails
    /// with [`InvalidSize`](LinkSendError::InvalidSize).
    pub fn commit(self, len: usize) -> Result<(), LinkSendError> {
        let link = self.link;
        let max = link.buffer_size();
        let claim = self.into_claim();
        if len == 0 || len > max {
            link.abandon(claim);
            return Err(LinkSendError::InvalidSize { len, max });
        }
        link.commit_copy(claim, link.next_copy_id(), len);
        Ok(())
    }

    /// Publishes `packet` as it is (a raw packet with a custom opcode; its
    /// payload, if any, is what was written into the buffer). The packet
    /// should name [`index`](Self::index) as its buffer.
    pub fn commit_packet(self, packet: Packet) {
        let link = self.link;
        link.commit_raw(self.into_claim(), packet, 0);
    }

    /// Gives the slot up: publishes a tombstone (the same as dropping).
    pub fn abort(self) {}
}

impl Drop for SendReservation<'_> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and the claim is not used afterwards;
        // `into_claim` prevents this from running after it took the claim.
        let claim = unsafe { ManuallyDrop::take(&mut self.claim) };
        self.link.abandon(claim);
    }
}

/// A received slot held for reading in place ([`StandardLink::reserve_recv`],
/// [`StandardLink::recv_packet`]). Dropping it releases the slot.
#[derive(Debug)]
pub struct RecvReservation<'a> {
    link: &'a StandardLink,
    claim: ManuallyDrop<RecvClaim<'a>>,
    len: usize,
}

impl<'a> RecvReservation<'a> {
    pub(crate) fn new(link: &'a StandardLink, claim: RecvClaim<'a>, len: usize) -> Self {
        RecvReservation {
            link,
            claim: ManuallyDrop::new(claim),
            len,
        }
    }

    /// The packet as it was when the slot was claimed. From
    /// [`StandardLink::reserve_recv`] it is a validated StandardLinkCopy;
    /// from [`StandardLink::recv_packet`] it is unvalidated peer input.
    pub fn packet(&self) -> Packet {
        self.claim.packet()
    }

    /// The slot index, which is also the index of its buffer.
    pub fn index(&self) -> usize {
        self.claim.index()
    }

    /// The message: for a data message, its bytes (the validated size); for
    /// a raw packet, the slot's whole buffer (the packet's own operands say
    /// which part is meant).
    ///
    /// The bytes live in shared memory: a peer that breaks the protocol can
    /// change them while you read, so copy out what you need once (see
    /// [`PayloadView`]).
    pub fn payload(&self) -> PayloadView<'_> {
        let buffer = self.claim.payload();
        buffer.get(..self.len).unwrap_or(buffer)
    }

    /// The slot's whole buffer.
    pub fn buffer(&self) -> PayloadView<'_> {
        self.claim.payload()
    }

    /// Hints that the first `len` bytes of the buffer are about to be read,
    /// so their cache lines are fetched together rather than one by one as
    /// a copy reaches them. Data messages get this at receive; call it for
    /// raw packets whose length only the caller can decode. Only a hint:
    /// any `len` is fine (it is clamped to the buffer).
    #[inline]
    pub fn prefetch(&self, len: usize) {
        self.claim.prefetch_payload(len);
    }

    /// Releases the slot (the same as dropping).
    pub fn release(self) {}
}

impl Drop for RecvReservation<'_> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and the claim is not used afterwards.
        let claim = unsafe { ManuallyDrop::take(&mut self.claim) };
        self.link.release(claim);
    }
}
