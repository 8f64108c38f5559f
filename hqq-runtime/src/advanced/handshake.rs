//! The encryption handshake on the link: run by the negotiation calls right
//! after ProtoAck granted Encryption, before they return.
//!
//! The Noise messages travel in Handshake packets (step 1 from the
//! initiator, step 2 from the acceptor). The inbox takes the peer's step
//! while it routes it, so the receiving key is in place before the packet
//! that follows it is routed; the waiting call installs the sending key and
//! only then marks the link negotiated, so no message leaves unsealed.

use std::time::Instant;

use crate::advanced::encryption::{CipherSet, HandshakeError, NoiseHandshake, Sealer};
use crate::advanced::error::{AcceptNegotiationError, NegotiateError};
use crate::advanced::inbox::PendingHandshake;
use crate::advanced::link::{lock, AdvancedLink};
use crate::advanced::negotiation::Negotiated;
use crate::advanced::pump::Wait;
use crate::advanced::transport::{PacketTransport, TransportError};
use crate::codec::PacketCodec;
use crate::packet::Packet;
use crate::protocol::{Error, ErrorCode, Features, Handshake, HandshakePattern};

/// Why one side's half of the handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeFailure {
    Handshake(HandshakeError),
    Transport(TransportError),
}

impl From<HandshakeError> for HandshakeFailure {
    fn from(e: HandshakeError) -> Self {
        HandshakeFailure::Handshake(e)
    }
}

impl From<TransportError> for HandshakeFailure {
    fn from(e: TransportError) -> Self {
        HandshakeFailure::Transport(e)
    }
}

impl From<HandshakeFailure> for NegotiateError {
    fn from(e: HandshakeFailure) -> Self {
        match e {
            HandshakeFailure::Handshake(e) => NegotiateError::Handshake(e),
            HandshakeFailure::Transport(e) => NegotiateError::Transport(e),
        }
    }
}

impl From<HandshakeFailure> for AcceptNegotiationError {
    fn from(e: HandshakeFailure) -> Self {
        match e {
            HandshakeFailure::Handshake(e) => AcceptNegotiationError::Handshake(e),
            HandshakeFailure::Transport(e) => AcceptNegotiationError::Transport(e),
        }
    }
}

impl<T: PacketTransport> AdvancedLink<T> {
    /// The initiator's half: sends step 1 and waits for step 2 (routed
    /// into the inbox, which keys the receiving side), then installs the
    /// sending key. Nothing to do when Encryption was not granted (unless
    /// this side requires it).
    pub(super) fn initiate_handshake(
        &self,
        negotiated: &Negotiated,
        deadline: Instant,
    ) -> Result<(), HandshakeFailure> {
        if !negotiated.features.contains(Features::ENCRYPTION) {
            if self.refuses_plain(negotiated.features) {
                return Err(HandshakeError::NotGranted.into());
            }
            return Ok(());
        }
        let keys = self.config.encryption.ok_or(HandshakeError::NoKeys)?.keys;
        let ciphers = CipherSet::offered(self.config.cipher);
        let (handshake, message) = NoiseHandshake::initiate(&keys, ciphers, negotiated)?;
        self.check_fits(&message)?;
        let pattern = handshake.pattern();
        lock(&self.inbox).handshake = Some(PendingHandshake::new(handshake, negotiated));
        let outcome = self
            .send_handshake(1, pattern, &message, deadline)
            .and_then(|()| {
                self.wait_for(Wait::Until(deadline), |inbox| {
                    inbox.handshake_outcome.take()
                })
            });
        let keys = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                let mut inbox = lock(&self.inbox);
                inbox.handshake = None;
                inbox.handshake_outcome = None;
                return Err(e.into());
            }
        }?;
        self.install_sealer(Sealer::new(keys.cipher, &keys.send)?);
        Ok(())
    }

    /// The acceptor's half: sends the `ack`, waits for step 1 (which the
    /// inbox answers with the keys and step 2), installs the sending key,
    /// marks the link negotiated and sends step 2. A failed step is
    /// answered with Error(HandshakeFailed).
    pub(super) fn answer_handshake(
        &self,
        negotiated: &Negotiated,
        ack: Packet,
        deadline: Instant,
    ) -> Result<(), HandshakeFailure> {
        let keys = self.config.encryption.ok_or(HandshakeError::NoKeys)?.keys;
        let ciphers = CipherSet::offered(self.config.cipher);
        let handshake = NoiseHandshake::respond(&keys, ciphers, negotiated)?;
        let pattern = handshake.pattern();
        lock(&self.inbox).handshake = Some(PendingHandshake::new(handshake, negotiated));
        let outcome = self.send_control(ack, deadline).and_then(|()| {
            self.wait_for(Wait::Until(deadline), |inbox| {
                inbox.handshake_outcome.take()
            })
        });
        let done = match outcome {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                if !matches!(e, HandshakeError::Refused(_)) {
                    let error = Error {
                        context: 0,
                        code: ErrorCode::HandshakeFailed,
                    };
                    let _ = self.send_control(error.encode(), deadline);
                }
                return Err(e.into());
            }
            Err(e) => {
                let mut inbox = lock(&self.inbox);
                inbox.handshake = None;
                inbox.handshake_outcome = None;
                return Err(e.into());
            }
        };
        let reply = done.reply.unwrap_or_default();
        self.check_fits(&reply)?;
        self.install_sealer(Sealer::new(done.cipher, &done.send)?);
        // Negotiated before step 2 leaves: the peer may send at once.
        self.mark_negotiated(*negotiated);
        self.send_handshake(2, pattern, &reply, deadline)?;
        Ok(())
    }

    fn check_fits(&self, message: &[u8]) -> Result<(), HandshakeError> {
        let buffer = self.limits.buffer_size;
        if message.len() as u64 > buffer {
            return Err(HandshakeError::BufferTooSmall {
                needed: message.len() as u64,
                buffer,
            });
        }
        Ok(())
    }

    /// Sends one Handshake packet with `message` in its slot's buffer
    /// (which [`check_fits`](Self::check_fits) checked).
    fn send_handshake(
        &self,
        step: u64,
        pattern: HandshakePattern,
        message: &[u8],
        deadline: Instant,
    ) -> Result<(), TransportError> {
        let packet = Handshake {
            step,
            pattern,
            size: message.len() as u64,
        };
        self.transport.send_packet(Some(deadline), |_, buffer| {
            if let Some(room) = buffer.get_mut(..message.len()) {
                room.copy_from_slice(message);
            }
            packet.encode()
        })
    }
}
