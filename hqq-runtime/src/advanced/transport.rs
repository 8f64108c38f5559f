//! What the Advanced link needs from the link below it: raw packets, each
//! with its slot's own payload buffer.
//!
//! The [`StandardLink`] implements it with its raw-packet API, so an
//! Advanced link shares the Standard link's rings and buffers (it adds no
//! memory), blocks on the Standard link's futex-backed waits and sees
//! [`PeerGone`](TransportError::PeerGone) when every peer process died.

use std::time::Instant;

use crate::codec::PacketCodec;
use crate::link::{LinkRecvError, LinkSendError, StandardLink};
use crate::packet::Packet;
use crate::payload_view::PayloadView;
use crate::protocol::ConnCopy;
use crate::stats::Statistics;
use crate::superblock::Role;

/// Why a transport could not send or receive a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TransportError {
    /// The deadline passed first (ring full, or empty).
    #[error("timed out")]
    TimedOut,
    /// The ring is in a state no correct peer produces.
    #[error("the ring is corrupt")]
    Corrupt,
    /// Every process on the other side of the link is dead (see
    /// [`crate::liveness`]).
    #[error("the peer is gone: every process on the other side of the link is dead")]
    PeerGone,
}

/// Raw packets with their slot's payload buffer, in both directions.
///
/// The methods are generic over their closures, so an
/// [`AdvancedLink`](super::AdvancedLink) over a transport calls them with
/// no allocation or dynamic dispatch per packet. A deadline of `None` waits
/// forever; a deadline that has passed makes one attempt.
pub trait PacketTransport: Send + Sync {
    /// Bytes per payload buffer.
    fn buffer_size(&self) -> usize;

    /// Ring slots (= payload buffers) per direction.
    fn slots(&self) -> u64;

    /// Which end of the link this is (the two ends number their
    /// connections apart).
    fn role(&self) -> Role;

    /// The statistics block the link below counts into, which the
    /// Advanced link above shares (`None`, the default: the Advanced link
    /// gets a private block of its own).
    fn statistics(&self) -> Option<Statistics> {
        None
    }

    /// Packets sent that the peer has not received yet, if the transport
    /// can tell (`None`, the default: it cannot). Only a hint, which a peer
    /// may falsify: QualityOfService uses it to bound how much
    /// lower-priority data waits in the ring ahead of a higher-priority
    /// chunk, with every wait still bounded by its deadline.
    fn send_backlog(&self) -> Option<u64> {
        None
    }

    /// Claims a send slot (waiting until `deadline`), lets `fill` write the
    /// slot's buffer (given the slot index) and return the packet, and
    /// publishes it.
    fn send_packet(
        &self,
        deadline: Option<Instant>,
        fill: impl FnOnce(usize, &mut [u8]) -> Packet,
    ) -> Result<(), TransportError>;

    /// Receives one packet (waiting until `deadline`), skipping
    /// tombstones, and lets `read` see it with its slot's buffer (bytes the
    /// peer may still write, so only a view) before the slot is released.
    fn recv_packet<R>(
        &self,
        deadline: Option<Instant>,
        read: impl FnOnce(Packet, PayloadView<'_>) -> R,
    ) -> Result<R, TransportError>;
}

impl From<LinkSendError> for TransportError {
    fn from(e: LinkSendError) -> Self {
        match e {
            LinkSendError::WouldBlock | LinkSendError::TimedOut => TransportError::TimedOut,
            LinkSendError::PeerGone => TransportError::PeerGone,
            // `send_packet_with` checks no size; a ring in a bad state is
            // the only other failure.
            LinkSendError::InvalidSize { .. } | LinkSendError::Corrupt => TransportError::Corrupt,
        }
    }
}

/// Whether `deadline` has passed: then a send or receive makes one attempt
/// and never idles (a blocked ring operation looks at its deadline only
/// every few idle rounds).
fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|deadline| deadline <= Instant::now())
}

impl PacketTransport for StandardLink {
    fn buffer_size(&self) -> usize {
        StandardLink::buffer_size(self)
    }

    fn slots(&self) -> u64 {
        StandardLink::slots(self)
    }

    fn role(&self) -> Role {
        StandardLink::role(self)
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(StandardLink::statistics(self).clone())
    }

    fn send_backlog(&self) -> Option<u64> {
        Some(self.send_backlog_hint())
    }

    fn send_packet(
        &self,
        deadline: Option<Instant>,
        fill: impl FnOnce(usize, &mut [u8]) -> Packet,
    ) -> Result<(), TransportError> {
        if passed(deadline) {
            return Ok(self.try_send_packet_with(fill)?);
        }
        Ok(self.send_packet_with_deadline(deadline, fill)?)
    }

    fn recv_packet<R>(
        &self,
        deadline: Option<Instant>,
        read: impl FnOnce(Packet, PayloadView<'_>) -> R,
    ) -> Result<R, TransportError> {
        // The raw receive skips tombstones and validates nothing: the
        // Advanced layer decodes every packet itself.
        let received = if passed(deadline) {
            self.try_recv_packet()
        } else {
            self.recv_packet_until(deadline)
        };
        let received = received.map_err(|e| match e {
            LinkRecvError::WouldBlock | LinkRecvError::TimedOut => TransportError::TimedOut,
            LinkRecvError::PeerGone => TransportError::PeerGone,
            _ => TransportError::Corrupt,
        })?;
        let packet = received.packet();
        if packet.opcode() == ConnCopy::OPCODE {
            // Operand 4 is the chunk size (untrusted, but only a hint).
            received.prefetch(usize::try_from(packet.operand(4)).unwrap_or(0));
        }
        let result = read(packet, received.buffer());
        received.release();
        Ok(result)
    }
}
