//! What the Advanced link needs from the link below it: raw packets, each
//! with its slot's own payload buffer.
//!
//! [`LinkMemory`] (the rings and buffers of a segment) implements it; the
//! Standard link does too, so an Advanced link shares its rings and
//! buffers and adds no memory.

use std::time::Instant;

use crate::link_memory::LinkMemory;
use crate::packet::Packet;
use crate::protocol::OpCode;
use crate::ring::{RingRecvWaitError, RingSendWaitError};

/// Why a transport could not send or receive a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TransportError {
    /// The deadline passed first (ring full, or empty).
    #[error("timed out")]
    TimedOut,
    /// The ring is in a state no correct peer produces.
    #[error("the ring is corrupt")]
    Corrupt,
}

/// Raw packets with their slot's payload buffer, in both directions.
pub trait PacketTransport: Send + Sync {
    /// Bytes per payload buffer.
    fn buffer_size(&self) -> usize;

    /// Ring slots (= payload buffers) per direction.
    fn slots(&self) -> u64;

    /// Claims a send slot (waiting until `deadline`, `None` = forever),
    /// lets `fill` write the slot's buffer (given the slot index) and
    /// return the packet, and publishes it.
    fn send_packet(
        &self,
        deadline: Option<Instant>,
        fill: &mut dyn FnMut(usize, &mut [u8]) -> Packet,
    ) -> Result<(), TransportError>;

    /// Receives one packet (waiting until `deadline`), skipping
    /// tombstones, and lets `read` see it with its slot's buffer before the
    /// slot is released.
    fn recv_packet(
        &self,
        deadline: Option<Instant>,
        read: &mut dyn FnMut(Packet, &[u8]),
    ) -> Result<(), TransportError>;
}

impl PacketTransport for LinkMemory {
    fn buffer_size(&self) -> usize {
        usize::try_from(self.layout().size()).unwrap_or(usize::MAX)
    }

    fn slots(&self) -> u64 {
        self.layout().count()
    }

    fn send_packet(
        &self,
        deadline: Option<Instant>,
        fill: &mut dyn FnMut(usize, &mut [u8]) -> Packet,
    ) -> Result<(), TransportError> {
        let claim = match deadline {
            Some(deadline) => self.tx().claim_send_timeout(deadline),
            None => self.tx().claim_send(),
        };
        let mut claim = claim.map_err(|e| match e {
            RingSendWaitError::TimedOut => TransportError::TimedOut,
            _ => TransportError::Corrupt,
        })?;
        let index = claim.index();
        let packet = fill(index, claim.payload_mut());
        claim.commit(packet);
        Ok(())
    }

    fn recv_packet(
        &self,
        deadline: Option<Instant>,
        read: &mut dyn FnMut(Packet, &[u8]),
    ) -> Result<(), TransportError> {
        loop {
            let claim = match deadline {
                Some(deadline) => self.rx().claim_recv_timeout(deadline),
                None => self.rx().claim_recv(),
            };
            let claim = claim.map_err(|e| match e {
                RingRecvWaitError::TimedOut => TransportError::TimedOut,
                _ => TransportError::Corrupt,
            })?;
            let packet = claim.packet();
            if packet.opcode() == OpCode::StandardLinkTombstone.code() {
                continue;
            }
            read(packet, claim.payload());
            return Ok(());
        }
    }
}
