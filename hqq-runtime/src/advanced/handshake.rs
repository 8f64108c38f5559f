//! The encryption handshake on the link: run by the negotiation calls right
//! after ProtoAck granted Encryption, before they return.
//!
//! The Noise messages travel in Handshake packets (step 1 from the
//! initiator, step 2 from the acceptor). The inbox takes the peer's step
//! while it routes it, so the receiving key is in place before the packet
//! that follows it is routed; the waiting side installs the sending key and
//! only then marks the link negotiated, so no message leaves unsealed.
//!
//! [`EncryptionHandshake`] holds one side's steps as a state machine with
//! no waiting inside: it says what to send and when to wait for the peer's
//! step, and the blocking link ([`AdvancedLink::drive_handshake`]) and the
//! async link (feature `tokio`) each do the sending and the waiting their
//! own way.

use std::time::Instant;

use crate::advanced::encryption::{CipherSet, HandshakeError, NoiseHandshake, Sealer};
use crate::advanced::error::{AcceptNegotiationError, NegotiateError};
use crate::advanced::inbox::{HandshakeDone, Inbox, PendingHandshake};
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

/// A packet a handshake step sends, with the bytes that go at the start
/// of its slot's buffer (a Noise message; none for a control packet).
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) packet: Packet,
    pub(crate) bytes: Vec<u8>,
    /// Whether failing to send it fails the handshake (the Error that
    /// answers a failed step is sent at most once, best effort).
    pub(crate) required: bool,
}

impl Outgoing {
    /// Fills a slot's `buffer` with the bytes (whose size the handshake
    /// checked against the buffer) and returns the packet.
    pub(crate) fn fill(&self, buffer: &mut [u8]) -> Packet {
        if let Some(room) = buffer.get_mut(..self.bytes.len()) {
            room.copy_from_slice(&self.bytes);
        }
        self.packet
    }
}

/// What the side running a handshake does next.
#[derive(Debug)]
pub(crate) enum HandshakeAction {
    /// Send the packet, then ask again.
    Send(Outgoing),
    /// Wait until [`take_outcome`] finds the peer's step (or refusal) in
    /// the inbox, then hand it to [`EncryptionHandshake::received`].
    AwaitPeer,
    /// The handshake ended: keyed, or failed.
    Done(Result<(), HandshakeError>),
}

/// Where a handshake is after its queued packet (if any) was sent.
#[derive(Debug)]
enum Then {
    AwaitPeer,
    Done(Result<(), HandshakeError>),
}

/// One side's encryption handshake as steps with no waiting inside (see
/// the module docs). Its first step is in the inbox from the start, so the
/// peer's step is taken whenever it is routed.
#[derive(Debug)]
pub(crate) struct EncryptionHandshake {
    negotiated: Negotiated,
    pattern: HandshakePattern,
    acceptor: bool,
    /// Sent by the next [`next`](Self::next).
    outgoing: Option<Outgoing>,
    then: Then,
}

/// Takes the handshake's outcome from the inbox (what
/// [`HandshakeAction::AwaitPeer`] waits for).
pub(crate) fn take_outcome(inbox: &mut Inbox) -> Option<Result<HandshakeDone, HandshakeError>> {
    inbox.handshake_outcome.take()
}

impl EncryptionHandshake {
    /// The initiator's half, once `negotiated` came back from the peer:
    /// `None` when Encryption was not granted (unless this side requires
    /// it: then `NotGranted`). It sends step 1, then waits for step 2.
    pub(crate) fn initiate<T: PacketTransport>(
        link: &AdvancedLink<T>,
        negotiated: &Negotiated,
    ) -> Result<Option<Self>, HandshakeError> {
        if !negotiated.features.contains(Features::ENCRYPTION) {
            if link.refuses_plain(negotiated.features) {
                return Err(HandshakeError::NotGranted);
            }
            return Ok(None);
        }
        let keys = link.config.encryption.ok_or(HandshakeError::NoKeys)?.keys;
        let ciphers = CipherSet::offered(link.config.cipher);
        let (handshake, message) = NoiseHandshake::initiate(&keys, ciphers, negotiated)?;
        check_fits(link, &message)?;
        let pattern = handshake.pattern();
        lock(&link.inbox).handshake = Some(PendingHandshake::new(handshake, negotiated));
        Ok(Some(EncryptionHandshake {
            negotiated: *negotiated,
            pattern,
            acceptor: false,
            outgoing: Some(handshake_packet(1, pattern, message)),
            then: Then::AwaitPeer,
        }))
    }

    /// The acceptor's half, once it granted Encryption in `ack`: it sends
    /// the `ack`, waits for step 1 (which the inbox answers with the keys
    /// and step 2), marks the link negotiated and sends step 2.
    pub(crate) fn respond<T: PacketTransport>(
        link: &AdvancedLink<T>,
        negotiated: &Negotiated,
        ack: Packet,
    ) -> Result<Self, HandshakeError> {
        let keys = link.config.encryption.ok_or(HandshakeError::NoKeys)?.keys;
        let ciphers = CipherSet::offered(link.config.cipher);
        let handshake = NoiseHandshake::respond(&keys, ciphers, negotiated)?;
        let pattern = handshake.pattern();
        lock(&link.inbox).handshake = Some(PendingHandshake::new(handshake, negotiated));
        Ok(EncryptionHandshake {
            negotiated: *negotiated,
            pattern,
            acceptor: true,
            outgoing: Some(control(ack, true)),
            then: Then::AwaitPeer,
        })
    }

    /// The next thing to do.
    pub(crate) fn next(&mut self) -> HandshakeAction {
        if let Some(outgoing) = self.outgoing.take() {
            return HandshakeAction::Send(outgoing);
        }
        match &self.then {
            Then::AwaitPeer => HandshakeAction::AwaitPeer,
            Then::Done(outcome) => HandshakeAction::Done(*outcome),
        }
    }

    /// Takes the peer's step (what [`take_outcome`] found): installs the
    /// sending key; the acceptor then marks the link negotiated (the peer
    /// may send at once after step 2) and queues step 2. A failed step is
    /// answered with Error(HandshakeFailed) unless the peer refused first.
    pub(crate) fn received<T: PacketTransport>(
        &mut self,
        link: &AdvancedLink<T>,
        outcome: Result<HandshakeDone, HandshakeError>,
    ) {
        let acceptor = self.acceptor;
        let keyed = outcome.and_then(|done| {
            // The acceptor answers with step 2 (empty from older builds).
            let reply = acceptor.then(|| done.reply.unwrap_or_default());
            if let Some(reply) = &reply {
                check_fits(link, reply)?;
            }
            link.install_sealer(Sealer::new(done.cipher, &done.send)?);
            Ok(reply)
        });
        self.then = match keyed {
            Ok(reply) => {
                if let Some(reply) = reply {
                    link.mark_negotiated(self.negotiated);
                    self.outgoing = Some(handshake_packet(2, self.pattern, reply));
                }
                Then::Done(Ok(()))
            }
            Err(e) => {
                if acceptor && !matches!(e, HandshakeError::Refused(_)) {
                    let error = Error {
                        context: 0,
                        code: ErrorCode::HandshakeFailed,
                    };
                    self.outgoing = Some(control(error.encode(), false));
                }
                Then::Done(Err(e))
            }
        };
    }

    /// The handshake stopped part-way (a send or wait failed, or its
    /// future was dropped): the inbox forgets it.
    pub(crate) fn abandon<T: PacketTransport>(link: &AdvancedLink<T>) {
        let mut inbox = lock(&link.inbox);
        inbox.handshake = None;
        inbox.handshake_outcome = None;
    }
}

/// A control packet to send (`required`: see [`Outgoing::required`]).
fn control(packet: Packet, required: bool) -> Outgoing {
    Outgoing {
        packet,
        bytes: Vec::new(),
        required,
    }
}

/// The Handshake packet of `step` carrying `message`.
fn handshake_packet(step: u64, pattern: HandshakePattern, message: Vec<u8>) -> Outgoing {
    let packet = Handshake {
        step,
        pattern,
        size: message.len() as u64,
    };
    Outgoing {
        packet: packet.encode(),
        bytes: message,
        required: true,
    }
}

/// Whether a Noise `message` fits in one of `link`'s buffers.
fn check_fits<T: PacketTransport>(
    link: &AdvancedLink<T>,
    message: &[u8],
) -> Result<(), HandshakeError> {
    let buffer = link.limits.buffer_size;
    if message.len() as u64 > buffer {
        return Err(HandshakeError::BufferTooSmall {
            needed: message.len() as u64,
            buffer,
        });
    }
    Ok(())
}

impl<T: PacketTransport> AdvancedLink<T> {
    /// Runs `handshake` to its end, blocking until `deadline` in each send
    /// and wait.
    pub(super) fn drive_handshake(
        &self,
        mut handshake: EncryptionHandshake,
        deadline: Instant,
    ) -> Result<(), HandshakeFailure> {
        loop {
            match handshake.next() {
                HandshakeAction::Send(outgoing) => {
                    let sent = self
                        .transport
                        .send_packet(Some(deadline), |_, buffer| outgoing.fill(buffer));
                    if let (Err(e), true) = (sent, outgoing.required) {
                        EncryptionHandshake::abandon(self);
                        return Err(e.into());
                    }
                }
                HandshakeAction::AwaitPeer => {
                    match self.wait_for(Wait::Until(deadline), take_outcome) {
                        Ok(outcome) => handshake.received(self, outcome),
                        Err(e) => {
                            EncryptionHandshake::abandon(self);
                            return Err(e.into());
                        }
                    }
                }
                HandshakeAction::Done(outcome) => return Ok(outcome?),
            }
        }
    }
}
