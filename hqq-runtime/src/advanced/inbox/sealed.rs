//! The inbox's encrypted half: the peer's handshake step, and opening
//! sealed messages (whole, or chunk by chunk when streamed) before they
//! are decompressed and delivered.

use std::time::Instant;

use super::{InboundError, Inbox, Reply};
use crate::advanced::budget::ENTRY_BYTES;
use crate::advanced::encryption::{
    Binding, HandshakeError, MessageOpener, NoiseHandshake, OpenError, OpenInPlace, Opener,
    KEY_BYTES, MAX_HANDSHAKE_MESSAGE,
};
use crate::advanced::negotiation::Negotiated;
use crate::advanced::reassembly::{AssembledMessage, ChunkInfo, MessageKey};
use crate::payload_view::PayloadView;
use crate::protocol::{Cipher, ConnCopy, Features, FrameFlags, Handshake};

/// This side's half-done handshake, waiting for the peer's step.
#[derive(Debug)]
pub(crate) struct PendingHandshake {
    handshake: NoiseHandshake,
    /// Compression was negotiated too (the inbox takes compressed
    /// messages from the moment the handshake is done).
    compression: bool,
}

impl PendingHandshake {
    pub(crate) fn new(handshake: NoiseHandshake, negotiated: &Negotiated) -> Self {
        PendingHandshake {
            handshake,
            compression: negotiated.features.contains(Features::COMPRESSION),
        }
    }
}

/// A handshake this side finished: the cipher, its sending key, and
/// (acceptor) the step 2 message to send.
#[derive(Debug)]
pub(crate) struct HandshakeDone {
    pub(crate) cipher: Cipher,
    pub(crate) send: [u8; KEY_BYTES],
    pub(crate) reply: Option<Vec<u8>>,
}

impl Inbox {
    /// Takes the peer's handshake step: done, the receiving key is in
    /// place before the next packet is routed. A step nobody waits for
    /// (repeated, or after the handshake) is refused.
    pub(super) fn on_handshake(&mut self, packet: &Handshake, payload: PayloadView<'_>) -> Reply {
        let Some(pending) = self.handshake.take() else {
            return Err(InboundError::Unexpected("Handshake"));
        };
        // `size` is at most 1024 (checked by `validate`).
        let message = usize::try_from(packet.size)
            .ok()
            .filter(|&n| n <= MAX_HANDSHAKE_MESSAGE)
            .and_then(|n| payload.get(..n))
            .map(|view| view.to_vec());
        let outcome = match message {
            Some(message) => pending
                .handshake
                .take(packet.step, packet.pattern, &message),
            None => Err(HandshakeError::Failed),
        };
        self.handshake_outcome = Some(outcome.and_then(|(keys, reply)| {
            self.opener = Some(Opener::new(keys.cipher, &keys.receive)?);
            self.compression_granted |= pending.compression;
            Ok(HandshakeDone {
                cipher: keys.cipher,
                send: keys.send,
                reply,
            })
        }));
        Ok(super::delivered())
    }

    /// Refuses a sealed chunk before the handshake keyed this side, and a
    /// plain one (but an Abort, which carries nothing) after it.
    pub(super) fn check_sealing(&mut self, chunk: &ConnCopy) -> Result<(), InboundError> {
        let sealed = chunk.chunk_flags.contains(FrameFlags::ENCRYPTED);
        let refused = match (&self.opener, sealed) {
            (None, true) => OpenError::NotNegotiated,
            (Some(_), false) if !chunk.chunk_flags.contains(FrameFlags::ABORT) => {
                OpenError::Unencrypted
            }
            _ => return Ok(()),
        };
        self.events.authentication_failures += 1;
        Err(refused.into())
    }

    /// Counts a refusal to open a message.
    fn open_failed(&mut self, e: OpenError) -> InboundError {
        if e.is_replay() {
            self.events.replays_refused += 1;
        } else {
            self.events.authentication_failures += 1;
        }
        e.into()
    }

    /// Replaces a whole sealed `message` (last chunk's flags `flags`) by
    /// its plain bytes, in place (opening what is left of it: a message
    /// of several chunks had its frames opened as they arrived); gives
    /// back the budget of the seal's overhead, or everything the message
    /// held if it does not open (the caller then drops it). The message
    /// is not moved: it is some 200 bytes.
    pub(super) fn open_whole(
        &mut self,
        flags: FrameFlags,
        message: &mut AssembledMessage,
    ) -> Result<(), InboundError> {
        let sealed = message.data.len() as u64;
        let opened = match (self.opener.as_mut(), message.opening.take()) {
            (None, _) => Err(OpenError::NotNegotiated),
            (Some(opener), Some(opening)) if opening.binds(flags) => {
                opening.finish(opener, &mut message.data)
            }
            (Some(_), Some(_)) => Err(OpenError::Forged),
            // A message in one chunk: opened whole (one frame at once).
            (Some(opener), None) => {
                let binding = Binding {
                    connection: message.key.connection,
                    message: message.key.message,
                    flags: Binding::flags_of(flags),
                    method_or_status: message.method_or_status,
                    total: sealed,
                };
                opener.open_whole(&binding, &mut message.data)
            }
        };
        let nanos = match opened {
            Ok(nanos) => nanos,
            Err(e) => {
                self.budget.release(message.account(), message.charged, 1);
                return Err(self.open_failed(e));
            }
        };
        self.events.decryption_nanos += nanos;
        let overhead = sealed - message.data.len() as u64;
        self.budget.release(message.account(), overhead, 0);
        message.charged -= overhead;
        self.events.decrypted_bytes += message.data.len() as u64;
        Ok(())
    }

    /// Opens, in the message's own buffer, the frames that `chunk` (just
    /// assembled, not the message's last) of a sealed message completed:
    /// so the receiver opens frames while the sender seals the next ones.
    /// A frame that does not open drops the whole message (counted, its
    /// budget given back); its later chunks are then refused as chunks of
    /// a message that never began.
    pub(super) fn open_arrived(&mut self, chunk: &ConnCopy) -> Result<(), InboundError> {
        let key = MessageKey::of(chunk);
        let opened = self.open_partial(key, chunk);
        opened.map_err(|e| {
            self.reassembler.drop_message(&key, &mut self.budget);
            self.open_failed(e)
        })
    }

    fn open_partial(&mut self, key: MessageKey, chunk: &ConnCopy) -> Result<(), OpenError> {
        let opener = self.opener.as_mut().ok_or(OpenError::NotNegotiated)?;
        let Some((data, opening)) = self.reassembler.sealed_partial(&key) else {
            return Ok(());
        };
        let flags = chunk.chunk_flags;
        let opening = match opening {
            Some(opening) if opening.binds(flags) => opening,
            None if flags.contains(FrameFlags::BEGIN) => {
                opening.insert(OpenInPlace::new(Binding {
                    connection: key.connection,
                    message: key.message,
                    flags: Binding::flags_of(flags),
                    method_or_status: chunk.method_or_status,
                    total: chunk.total,
                })?)
            }
            _ => return Err(OpenError::Forged),
        };
        self.events.decryption_nanos += opening.open_ready(opener, data)?;
        Ok(())
    }

    /// Opens one chunk (`copy`, already out of the segment, charged
    /// `charged`) of a sealed streamed message: returns the plain bytes it
    /// completed, the chunk's info in plain terms and their charge (the
    /// rest of the charge given back). On error the caller drops the
    /// message and gives back `charged`.
    pub(super) fn open_streamed(
        &mut self,
        key: MessageKey,
        flags: FrameFlags,
        info: ChunkInfo,
        copy: Vec<u8>,
        charged: u64,
    ) -> Result<(Vec<u8>, ChunkInfo, u64), InboundError> {
        let started = Instant::now();
        let result = self.open_chunk(key, flags, info, &copy);
        self.events.decryption_nanos += elapsed_nanos(started);
        let (plain, offset, total) = result.map_err(|e| {
            self.openers.remove(&key);
            self.open_failed(e)
        })?;
        // A chunk that completes a frame may yield more than it carried
        // (the frame's earlier bytes waited in the opener).
        let plain_charge = ENTRY_BYTES + plain.len() as u64;
        let account = super::stream_account(key);
        if plain_charge > charged {
            let mut extra = 0;
            if let Err(e) = super::charge_frame(
                &mut self.budget,
                key,
                account,
                plain_charge - charged,
                &mut extra,
            ) {
                self.openers.remove(&key);
                return Err(e);
            }
        } else {
            self.budget.release(account, charged - plain_charge, 0);
        }
        self.events.decrypted_bytes += plain.len() as u64;
        let info = ChunkInfo {
            offset,
            size: plain.len() as u64,
            total,
            ..info
        };
        Ok((plain, info, plain_charge))
    }

    /// The plain bytes `copy` completes, their offset and the plain total.
    fn open_chunk(
        &mut self,
        key: MessageKey,
        flags: FrameFlags,
        info: ChunkInfo,
        copy: &[u8],
    ) -> Result<(Vec<u8>, u64, u64), OpenError> {
        let opener = self.opener.as_mut().ok_or(OpenError::NotNegotiated)?;
        let mut message = match self.openers.remove(&key) {
            Some(message) if !info.first => message,
            _ => MessageOpener::new(Binding {
                connection: key.connection,
                message: key.message,
                flags: Binding::flags_of(flags),
                method_or_status: info.method_or_status,
                total: info.total,
            })?,
        };
        if !message.binds(flags) {
            return Err(OpenError::Forged);
        }
        let offset = message.produced();
        let mut plain = Vec::new();
        message.push(opener, copy, &mut plain)?;
        let total = message.plain_total();
        if !info.last {
            self.openers.insert(key, message);
        }
        Ok((plain, offset, total))
    }
}

/// Nanoseconds since `started` (saturating).
pub(super) fn elapsed_nanos(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
