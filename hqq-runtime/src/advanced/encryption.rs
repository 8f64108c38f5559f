//! Encrypted, authenticated messages on the Advanced link: the keys an
//! application configures, the Noise handshake that turns them into one
//! key per direction, and the sealed form of a message.
//!
//! # How it works
//!
//! Both sides configure [`Keys`] ([`AdvancedConfig::encryption`]), which
//! asks for the Encryption feature. When the negotiation grants it, the
//! initiator and the acceptor run a Noise handshake over the link (the
//! Handshake packet, `Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s` for a
//! pre-shared key, `Noise_KK_25519_ChaChaPoly_BLAKE2s` for static key
//! pairs, through the `snow` crate) before the negotiation call returns.
//! Its prologue is the acked version, features and capabilities, so an ack
//! changed on its way fails the handshake. The handshake's two split keys
//! (one per direction, fresh for every link) seal every message with the
//! AEAD the handshake agreed ([`Cipher`], through the `ring` crate):
//! AES-256-GCM when both sides' CPUs have AES instructions (it is several
//! times faster there), else ChaCha20-Poly1305 (see
//! [`AdvancedConfig::cipher`] to choose):
//!
//! * a message's bytes are `seq: u64 LE`, then frames of up to 64 KiB of the
//!   message (compressed first when Compression is on too), each sealed and
//!   followed by its 16-byte tag;
//! * frame `i` has the nonce `seq || i` (`seq` is the sender's message
//!   counter, so no nonce repeats under one key) and the associated data
//!   `connection, message, flags, method_or_status, total`, so a chunk
//!   moved to another message, offset or connection, a changed status or
//!   a cut total does not authenticate;
//! * the receiver accepts each `seq` once: a replayed message, or one 1024
//!   or more below the newest accepted, is refused. Messages of concurrent
//!   senders may arrive out of order, so the window lets them in (once).
//!
//! Sealing happens in process-private memory before the bytes are copied
//! into a slot's buffer, and opening happens on the private copy the
//! receiver takes out of the segment: the peer never sees or changes a
//! buffer that is being sealed or opened.
//!
//! Memory: a sealed message received whole is opened in place in its
//! buffer (no copy), each frame as soon as its chunks are in, so the
//! receiver opens while the sender seals the frames after (one frame that
//! fails refuses the whole message); a streamed one holds at most one
//! frame (64 KiB and its tag) between chunks, outside the receive budget,
//! so at most that much per message in progress (with the default 64
//! partial messages, about 4 MiB).
//!
//! A message that fails any check is refused with an [`OpenError`], counted
//! in [`AdvancedStats::authentication_failures`] or
//! [`AdvancedStats::replays_refused`], and dropped (a streamed one ends
//! with an Aborted event); the link goes on, and later good messages are
//! received as usual.
//!
//! # Threat model
//!
//! With Encryption negotiated and the handshake done:
//!
//! * a third process that can **read** the segment learns the sizes of the
//!   messages (plus 8 bytes, plus 16 per 64 KiB), their connections, ids,
//!   kinds and timing, and nothing of their contents;
//! * one that can **write** it can drop, delay or reorder messages, and
//!   forge control packets (close a connection, abort a message, refuse a
//!   call): that is, deny service. It cannot make the receiver accept a
//!   message it did not send, nor a message twice, nor a changed one: each
//!   such message is refused and counted.
//! * Control packets (negotiation, connections, Abort chunks, Error
//!   packets) are not encrypted. A writer that strips the Encryption bit
//!   from the negotiation gets a plain link, unless the application asked
//!   with [`AdvancedConfig::encryption_required`], which fails such a
//!   negotiation instead.
//! * A process that knows the keys (or the PSK) can impersonate either
//!   side; protect them like any secret. [`Keys`] is `Copy` so that the
//!   configuration stays `Copy`: the link does not wipe copies of them.
//!
//! [`AdvancedConfig::encryption`]: super::AdvancedConfig::encryption
//! [`AdvancedConfig::cipher`]: super::AdvancedConfig::cipher
//! [`AdvancedConfig::encryption_required`]: super::AdvancedConfig::encryption_required
//! [`AdvancedStats::authentication_failures`]: super::AdvancedStats::authentication_failures
//! [`AdvancedStats::replays_refused`]: super::AdvancedStats::replays_refused

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};

use crate::advanced::negotiation::Negotiated;
use crate::protocol::{Cipher, FrameFlags, HandshakePattern};

/// Bytes of a key (a pre-shared key, an X25519 private or public key).
pub const KEY_BYTES: usize = 32;

/// Bytes of the plain message a sealed frame holds at most.
pub const FRAME_BYTES: u64 = 64 * 1024;

/// Bytes of a frame's authentication tag.
const TAG_BYTES: u64 = 16;

/// Bytes of the sequence number in front of the frames.
const SEQ_BYTES: u64 = 8;

/// Messages below the newest accepted one that are still accepted (once).
pub const REPLAY_WINDOW: u64 = 1024;

/// The key material an application gives both sides of an encrypted link.
///
/// `Debug` shows which kind of keys these are, never the bytes.
///
/// ```
/// use hqq_runtime::advanced::Keys;
///
/// let keys = Keys::pre_shared([7; 32]);
/// assert_eq!(format!("{keys:?}"), "Keys::PreShared(..)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Keys {
    /// A 32-byte secret both sides were given (Noise NNpsk0: fresh
    /// ephemeral keys, authenticated by the secret).
    PreShared([u8; KEY_BYTES]),
    /// This side's X25519 private key and the peer's public key (Noise KK).
    /// Make pairs with [`Keys::generate_key_pair`].
    Static {
        /// This side's private key.
        local_private: [u8; KEY_BYTES],
        /// The peer's public key.
        remote_public: [u8; KEY_BYTES],
    },
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keys::PreShared(_) => f.write_str("Keys::PreShared(..)"),
            Keys::Static { .. } => f.write_str("Keys::Static { .. }"),
        }
    }
}

impl Keys {
    /// A pre-shared 32-byte secret.
    pub const fn pre_shared(key: [u8; KEY_BYTES]) -> Keys {
        Keys::PreShared(key)
    }

    /// This side's private key and the peer's public key.
    pub const fn static_keys(
        local_private: [u8; KEY_BYTES],
        remote_public: [u8; KEY_BYTES],
    ) -> Keys {
        Keys::Static {
            local_private,
            remote_public,
        }
    }

    /// A fresh X25519 key pair `(private, public)` from the operating
    /// system's random numbers.
    ///
    /// ```
    /// use hqq_runtime::advanced::Keys;
    ///
    /// let (a_private, a_public) = Keys::generate_key_pair()?;
    /// let (b_private, b_public) = Keys::generate_key_pair()?;
    /// let a = Keys::static_keys(a_private, b_public);
    /// let b = Keys::static_keys(b_private, a_public);
    /// assert_ne!(a, b);
    /// # Ok::<(), hqq_runtime::advanced::HandshakeError>(())
    /// ```
    pub fn generate_key_pair() -> Result<([u8; KEY_BYTES], [u8; KEY_BYTES]), HandshakeError> {
        let builder = snow::Builder::new(params(HandshakePattern::KK));
        let pair = builder
            .generate_keypair()
            .map_err(|_| HandshakeError::Setup)?;
        let private = pair.private.try_into().map_err(|_| HandshakeError::Setup)?;
        let public = pair.public.try_into().map_err(|_| HandshakeError::Setup)?;
        Ok((private, public))
    }

    /// The Noise pattern these keys run.
    pub const fn pattern(&self) -> HandshakePattern {
        match self {
            Keys::PreShared(_) => HandshakePattern::NNpsk0,
            Keys::Static { .. } => HandshakePattern::KK,
        }
    }
}

/// How this side encrypts: its keys, and whether a link without
/// Encryption is refused (see [`AdvancedConfig::encryption`](super::AdvancedConfig::encryption)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encryption {
    /// The key material.
    pub keys: Keys,
    /// Refuse to negotiate a link on which the peer does not grant
    /// Encryption (instead of running it in the clear).
    pub required: bool,
}

/// Why the encryption handshake failed (the negotiation fails with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// This side requires Encryption and the peer did not grant (or ask
    /// for) it.
    #[error("encryption is required, but the peer did not negotiate it")]
    NotGranted,
    /// The peer runs another pattern (one side has a pre-shared key, the
    /// other static keys).
    #[error("the peer runs the {peer:?} handshake, this side {own:?}")]
    PatternMismatch {
        /// This side's pattern.
        own: HandshakePattern,
        /// The peer's pattern.
        peer: HandshakePattern,
    },
    /// The peer's handshake message did not authenticate: the two sides
    /// have different keys (or the message was changed on its way).
    #[error("the peer's handshake message did not authenticate (different keys?)")]
    Failed,
    /// The peer answered the handshake with an Error packet.
    #[error("the peer refused the handshake: {0}")]
    Refused(crate::protocol::ErrorCode),
    /// A handshake message of the wrong step arrived.
    #[error("a handshake message arrived out of turn")]
    OutOfTurn,
    /// The link's buffers are too small for a handshake message.
    #[error("a {needed}-byte handshake message does not fit the {buffer}-byte buffers")]
    BufferTooSmall {
        /// Bytes of the message.
        needed: u64,
        /// Bytes per buffer.
        buffer: u64,
    },
    /// Encryption was negotiated, but this side has no keys (its offer
    /// asked for the feature without [`AdvancedConfig::encryption`](super::AdvancedConfig::encryption)).
    #[error("Encryption was negotiated, but this side was given no keys")]
    NoKeys,
    /// The Noise library refused the keys or the pattern.
    #[error("the handshake could not be set up (bad key material)")]
    Setup,
    /// The two sides offer no common [`Cipher`] (one was configured with
    /// [`AdvancedConfig::cipher`](super::AdvancedConfig::cipher) to use only
    /// one the other does not offer), or the acceptor chose one the
    /// initiator did not offer.
    #[error("the two sides have no cipher in common")]
    NoCommonCipher,
}

/// Why a received encrypted message (or a plain one on an encrypted link)
/// was refused. Each is counted; the message is dropped and the link goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// An Encrypted chunk arrived before Encryption was negotiated and keyed.
    #[error("an encrypted message arrived, but Encryption is not on")]
    NotNegotiated,
    /// A message without the Encrypted flag arrived on an encrypted link.
    #[error("a plain message arrived on an encrypted link")]
    Unencrypted,
    /// The message's total cannot be a sealed message's size.
    #[error("{total} bytes cannot be a sealed message")]
    BadLength {
        /// The message's total.
        total: u64,
    },
    /// A frame did not authenticate: changed, moved, cut or forged.
    #[error("a frame of the message did not authenticate")]
    Forged,
    /// The message's sequence number was accepted before.
    #[error("message sequence number {seq} was already received (replay)")]
    Replayed {
        /// The sequence number.
        seq: u64,
    },
    /// The message's sequence number is too far below the newest accepted.
    #[error("message sequence number {seq} is older than the replay window")]
    TooOld {
        /// The sequence number.
        seq: u64,
    },
}

impl OpenError {
    /// Whether this refusal is a replay (counted apart from forgeries).
    pub(crate) const fn is_replay(&self) -> bool {
        matches!(self, OpenError::Replayed { .. } | OpenError::TooOld { .. })
    }
}

fn params(pattern: HandshakePattern) -> snow::params::NoiseParams {
    let name = match pattern {
        HandshakePattern::NNpsk0 => "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s",
        HandshakePattern::KK => "Noise_KK_25519_ChaChaPoly_BLAKE2s",
    };
    // Both names are valid Noise protocol names of the default resolver.
    match name.parse() {
        Ok(params) => params,
        Err(_) => unreachable!("{name} is a valid Noise name"),
    }
}

/// The handshake prologue: what both sides agreed on in the negotiation.
fn prologue(negotiated: &Negotiated) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..16].copy_from_slice(b"HQQ encryption 1");
    let words = [
        negotiated.version.to_wire(),
        negotiated.features.bits(),
        negotiated.capabilities.bits(),
    ];
    for (slot, word) in out[16..].chunks_exact_mut(8).zip(words) {
        slot.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// The two keys of an encrypted link, one per direction, and the cipher
/// both use.
pub(crate) struct SessionKeys {
    pub(crate) cipher: Cipher,
    pub(crate) send: [u8; KEY_BYTES],
    pub(crate) receive: [u8; KEY_BYTES],
}

/// A set of [`Cipher`]s, as step 1 of the handshake offers them: bit
/// `value - 1` for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CipherSet(u8);

impl CipherSet {
    /// What a side offers that was configured with `only` (`None`:
    /// ChaCha20-Poly1305, and AES-256-GCM too where this CPU has AES
    /// instructions).
    pub(crate) fn offered(only: Option<Cipher>) -> CipherSet {
        match only {
            Some(cipher) => CipherSet::of(cipher),
            None if hardware_aes() => CipherSet(
                CipherSet::of(Cipher::ChaCha20Poly1305).0 | CipherSet::of(Cipher::Aes256Gcm).0,
            ),
            None => CipherSet::of(Cipher::ChaCha20Poly1305),
        }
    }

    fn of(cipher: Cipher) -> CipherSet {
        CipherSet(1 << (cipher.value() - 1))
    }

    fn contains(self, cipher: Cipher) -> bool {
        self.0 & CipherSet::of(cipher).0 != 0
    }

    /// The set a step 1 payload names (empty: what the first releases
    /// used, ChaCha20-Poly1305 alone).
    fn from_payload(payload: &[u8]) -> CipherSet {
        match payload.first() {
            Some(&bits) => CipherSet(bits),
            None => CipherSet::of(Cipher::ChaCha20Poly1305),
        }
    }

    /// The acceptor's choice among the ciphers both sides offer: the
    /// faster AES-256-GCM when both have it.
    fn choose(self, peer: CipherSet) -> Option<Cipher> {
        [Cipher::Aes256Gcm, Cipher::ChaCha20Poly1305]
            .into_iter()
            .find(|&c| self.contains(c) && peer.contains(c))
    }
}

/// Whether this CPU has the instructions that make AES-256-GCM fast (and
/// constant-time): AES rounds and carry-less multiplication.
fn hardware_aes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// One side's half-done Noise handshake.
pub(crate) struct NoiseHandshake {
    state: Box<snow::HandshakeState>,
    pattern: HandshakePattern,
    initiator: bool,
    /// The ciphers this side offers.
    ciphers: CipherSet,
}

impl fmt::Debug for NoiseHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseHandshake")
            .field("pattern", &self.pattern)
            .field("initiator", &self.initiator)
            .field("ciphers", &self.ciphers)
            .finish_non_exhaustive()
    }
}

/// The most bytes a handshake message of either pattern takes (an
/// ephemeral key and a tag).
pub(crate) const MAX_HANDSHAKE_MESSAGE: usize = 96;

impl NoiseHandshake {
    fn build(
        keys: &Keys,
        ciphers: CipherSet,
        negotiated: &Negotiated,
        initiator: bool,
    ) -> Result<NoiseHandshake, HandshakeError> {
        let pattern = keys.pattern();
        let prologue = prologue(negotiated);
        let builder = snow::Builder::new(params(pattern)).prologue(&prologue);
        let builder = match keys {
            Keys::PreShared(psk) => builder.psk(0, psk),
            Keys::Static {
                local_private,
                remote_public,
            } => builder
                .local_private_key(local_private)
                .remote_public_key(remote_public),
        };
        let state = if initiator {
            builder.build_initiator()
        } else {
            builder.build_responder()
        };
        Ok(NoiseHandshake {
            state: Box::new(state.map_err(|_| HandshakeError::Setup)?),
            pattern,
            initiator,
            ciphers,
        })
    }

    /// The initiator's state and its first message (step 1), which offers
    /// `ciphers`.
    pub(crate) fn initiate(
        keys: &Keys,
        ciphers: CipherSet,
        negotiated: &Negotiated,
    ) -> Result<(NoiseHandshake, Vec<u8>), HandshakeError> {
        let mut handshake = Self::build(keys, ciphers, negotiated, true)?;
        let message = handshake.write(&[ciphers.0])?;
        Ok((handshake, message))
    }

    /// The acceptor's state, waiting for step 1, choosing among `ciphers`.
    pub(crate) fn respond(
        keys: &Keys,
        ciphers: CipherSet,
        negotiated: &Negotiated,
    ) -> Result<NoiseHandshake, HandshakeError> {
        Self::build(keys, ciphers, negotiated, false)
    }

    /// The pattern this side runs.
    pub(crate) fn pattern(&self) -> HandshakePattern {
        self.pattern
    }

    fn write(&mut self, payload: &[u8]) -> Result<Vec<u8>, HandshakeError> {
        let mut message = vec![0u8; MAX_HANDSHAKE_MESSAGE];
        let n = self
            .state
            .write_message(payload, &mut message)
            .map_err(|_| HandshakeError::Setup)?;
        message.truncate(n);
        Ok(message)
    }

    /// Reads the peer's `message`; returns the first byte of its payload
    /// (`None`: an empty payload).
    fn read(
        &mut self,
        pattern: HandshakePattern,
        message: &[u8],
    ) -> Result<Option<u8>, HandshakeError> {
        if pattern != self.pattern {
            return Err(HandshakeError::PatternMismatch {
                own: self.pattern,
                peer: pattern,
            });
        }
        let mut payload = [0u8; MAX_HANDSHAKE_MESSAGE];
        let n = self
            .state
            .read_message(message, &mut payload)
            .map_err(|_| HandshakeError::Failed)?;
        Ok(payload.get(..n).and_then(|p| p.first().copied()))
    }

    fn split(mut self, cipher: Cipher) -> SessionKeys {
        let (initiator_to_responder, responder_to_initiator) =
            self.state.dangerously_get_raw_split();
        let (send, receive) = if self.initiator {
            (initiator_to_responder, responder_to_initiator)
        } else {
            (responder_to_initiator, initiator_to_responder)
        };
        SessionKeys {
            cipher,
            send,
            receive,
        }
    }

    /// Takes the peer's message of `step` (with the peer's `pattern`):
    /// the acceptor reads step 1 and returns its answer (step 2), the
    /// initiator reads step 2; either way the handshake is done.
    pub(crate) fn take(
        mut self,
        step: u64,
        pattern: HandshakePattern,
        message: &[u8],
    ) -> Result<(SessionKeys, Option<Vec<u8>>), HandshakeError> {
        let expected = if self.initiator { 2 } else { 1 };
        if step != expected {
            return Err(HandshakeError::OutOfTurn);
        }
        let payload = self.read(pattern, message)?;
        let (cipher, reply) = if self.initiator {
            // An empty answer: the first releases' ChaCha20-Poly1305.
            let chosen = payload.map_or(Some(Cipher::ChaCha20Poly1305), |value| {
                Cipher::from_value(u64::from(value))
            });
            let cipher = chosen
                .filter(|&c| self.ciphers.contains(c))
                .ok_or(HandshakeError::NoCommonCipher)?;
            (cipher, None)
        } else {
            let offered = CipherSet::from_payload(payload.as_slice());
            let cipher = self
                .ciphers
                .choose(offered)
                .ok_or(HandshakeError::NoCommonCipher)?;
            // `value()` of a Cipher is 1 or 2.
            (cipher, Some(self.write(&[cipher.value() as u8])?))
        };
        if !self.state.is_handshake_finished() {
            return Err(HandshakeError::OutOfTurn);
        }
        Ok((self.split(cipher), reply))
    }
}

/// Bytes of a sealed `plain`-byte message, if that fits in a u64 and
/// has fewer than 2^32 frames.
pub(crate) fn sealed_len(plain: u64) -> Option<u64> {
    let frames = plain.div_ceil(FRAME_BYTES).max(1);
    if frames > u64::from(u32::MAX) {
        return None;
    }
    plain.checked_add(SEQ_BYTES + frames * TAG_BYTES)
}

/// The frames of a sealed message of `total` bytes: `(count, bytes of the
/// last one with its tag)`, or `None` if no sealed message has that size.
fn layout(total: u64) -> Option<(u64, u64)> {
    let body = total.checked_sub(SEQ_BYTES)?;
    let full = FRAME_BYTES + TAG_BYTES;
    let frames = body.div_ceil(full);
    let last = body - (frames.checked_sub(1)?) * full;
    (last >= TAG_BYTES && frames <= u64::from(u32::MAX)).then_some((frames, last))
}

/// What a sealed message's frames are bound to (the associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Binding {
    pub(crate) connection: u64,
    pub(crate) message: u64,
    /// Chunk flags with Begin and End cleared.
    pub(crate) flags: FrameFlags,
    pub(crate) method_or_status: u64,
    /// The sealed message's total.
    pub(crate) total: u64,
}

impl Binding {
    /// The flags a binding names: all of a chunk's but Begin and End.
    pub(crate) fn flags_of(chunk_flags: FrameFlags) -> FrameFlags {
        chunk_flags.difference(FrameFlags::BEGIN | FrameFlags::END)
    }

    fn bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        let words = [
            self.connection,
            self.message,
            self.flags.bits(),
            self.method_or_status,
            self.total,
        ];
        for (slot, word) in out.chunks_exact_mut(8).zip(words) {
            slot.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

fn nonce(seq: u64, frame: u32) -> Nonce {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&seq.to_le_bytes());
    out[8..].copy_from_slice(&frame.to_le_bytes());
    // Unique: one (seq, frame) per frame, seq never reused under a key.
    Nonce::assume_unique_for_key(out)
}

/// One direction's key, set up for `cipher` (its key schedule runs once).
fn aead_key(cipher: Cipher, key: &[u8; KEY_BYTES]) -> Result<LessSafeKey, HandshakeError> {
    let algorithm = match cipher {
        Cipher::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
        Cipher::Aes256Gcm => &ring::aead::AES_256_GCM,
    };
    let key = UnboundKey::new(algorithm, key).map_err(|_| HandshakeError::Setup)?;
    Ok(LessSafeKey::new(key))
}

/// This side's sending key and message counter.
pub(crate) struct Sealer {
    key: LessSafeKey,
    cipher: Cipher,
    next_seq: AtomicU64,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    pub(crate) fn new(cipher: Cipher, key: &[u8; KEY_BYTES]) -> Result<Sealer, HandshakeError> {
        Ok(Sealer {
            key: aead_key(cipher, key)?,
            cipher,
            next_seq: AtomicU64::new(0),
        })
    }

    /// The cipher this side seals with.
    pub(crate) fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The sealed form of the `plain`-byte message `source`, bound to
    /// `binding` (whose total is `sealed_len(plain)`), read a frame at a
    /// time. It draws the message's sequence number now.
    pub(crate) fn seal<R: Read>(
        &self,
        binding: &Binding,
        source: R,
        plain: u64,
    ) -> SealedSource<'_, R> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        // The seq, one frame and its tag: zeroed once per message, so
        // that each frame is read straight into it.
        let room = plain.min(FRAME_BYTES) + SEQ_BYTES + TAG_BYTES;
        SealedSource {
            key: &self.key,
            source,
            binding: binding.bytes(),
            seq,
            frame: 0,
            left: plain,
            frames_left: plain.div_ceil(FRAME_BYTES).max(1),
            out: FrameBuffer::new(room as usize),
            at: 0,
            end: 0,
            weight: timing_weight(seq, plain),
            nanos: 0,
        }
    }

    /// Seals the whole message `plain` of one frame (at most
    /// [`FRAME_BYTES`]), bound to `binding` (whose total is
    /// `sealed_len(plain.len())`), in process-private memory (on the stack
    /// when it is short, else in one buffer of exactly its size) and hands
    /// the sealed bytes to `send`, which copies them where they go. Returns
    /// what `send` returned and the (weighted, see [`timing_weight`])
    /// nanoseconds of sealing; `None` (and `send` not run) for a longer
    /// message, which [`seal`](Self::seal) takes. The bytes on the wire are
    /// those of [`seal`](Self::seal): the same seq, nonce and associated data.
    pub(crate) fn seal_whole<T>(
        &self,
        binding: &Binding,
        plain: &[u8],
        send: impl FnOnce(&[u8]) -> T,
    ) -> Option<(T, u64)> {
        let n = plain.len();
        if n as u64 > FRAME_BYTES {
            return None;
        }
        let sealed = n + (SEQ_BYTES + TAG_BYTES) as usize;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut inline = [0u8; INLINE_FRAME];
        let mut heap = Vec::new();
        let out = match inline.get_mut(..sealed) {
            Some(out) => {
                out[..SEQ_BYTES as usize].copy_from_slice(&seq.to_le_bytes());
                out[SEQ_BYTES as usize..SEQ_BYTES as usize + n].copy_from_slice(plain);
                out
            }
            None => {
                // Each byte written once: the seq, the plain bytes, and
                // room for the tag.
                heap.reserve_exact(sealed);
                heap.extend_from_slice(&seq.to_le_bytes());
                heap.extend_from_slice(plain);
                heap.extend_from_slice(&[0; TAG_BYTES as usize]);
                heap.as_mut_slice()
            }
        };
        let (frame, tag) = out[SEQ_BYTES as usize..].split_at_mut(n);
        let binding = binding.bytes();
        let weight = timing_weight(seq, n as u64);
        // Sealing 64 KiB or less cannot fail (ring refuses only inputs of
        // gigabytes).
        let nanos = seal_frame(&self.key, &binding, seq, 0, weight, frame, tag).ok()?;
        Some((send(out), nanos))
    }
}

/// Seals `frame` in place as frame `index` of message `seq` (associated
/// data `binding`) and writes its tag to the start of `tag` (at least
/// [`TAG_BYTES`] long); returns the nanoseconds it took times `weight`
/// (the clock is not read for a weight of 0).
fn seal_frame(
    key: &LessSafeKey,
    binding: &[u8; 40],
    seq: u64,
    index: u32,
    weight: u64,
    frame: &mut [u8],
    tag: &mut [u8],
) -> Result<u64, ring::error::Unspecified> {
    let started = (weight != 0).then(Instant::now);
    let sealed = key.seal_in_place_separate_tag(nonce(seq, index), Aad::from(binding), frame)?;
    let tag = tag
        .get_mut(..TAG_BYTES as usize)
        .ok_or(ring::error::Unspecified)?;
    tag.copy_from_slice(sealed.as_ref());
    Ok(started.map_or(0, |started| weighted_nanos(started, weight)))
}

/// Bytes of the largest sealed frame kept on the stack (a small message's
/// seq, frame and tag), so that sealing one allocates nothing.
const INLINE_FRAME: usize = 256;

/// The private buffer a frame is sealed in: on the stack for small
/// messages, else on the heap.
struct FrameBuffer {
    inline: [u8; INLINE_FRAME],
    /// Empty unless `room` is above [`INLINE_FRAME`].
    heap: Vec<u8>,
    room: usize,
}

impl FrameBuffer {
    /// `room` zeroed bytes.
    fn new(room: usize) -> FrameBuffer {
        let heap = if room > INLINE_FRAME {
            vec![0; room]
        } else {
            Vec::new()
        };
        FrameBuffer {
            inline: [0; INLINE_FRAME],
            heap,
            room,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self.inline.get(..self.room) {
            Some(bytes) => bytes,
            None => &self.heap,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self.inline.get_mut(..self.room) {
            Some(bytes) => bytes,
            None => &mut self.heap,
        }
    }
}

/// Messages shorter than this are timed for the statistics only one in
/// [`TIMING_SAMPLE`] (by sequence number), that one counting for all of
/// them: two clock reads cost about as much as sealing such a message.
pub(crate) const TIMED_BYTES: u64 = 4096;

/// One in this many short messages is timed (see [`TIMED_BYTES`]).
pub(crate) const TIMING_SAMPLE: u64 = 64;

/// How much the time of sealing or opening message `seq` of `plain`
/// bytes counts in the statistics: 1 for messages of [`TIMED_BYTES`] or
/// more, [`TIMING_SAMPLE`] for the sampled short ones, 0 (not timed) for
/// the other short ones.
pub(crate) fn timing_weight(seq: u64, plain: u64) -> u64 {
    if plain >= TIMED_BYTES {
        1
    } else if seq % TIMING_SAMPLE == 0 {
        TIMING_SAMPLE
    } else {
        0
    }
}

/// The sequence number of the sealed message `data` starts with.
fn sealed_seq(data: &[u8]) -> Option<u64> {
    data.first_chunk::<8>().map(|seq| u64::from_le_bytes(*seq))
}

/// Nanoseconds since `started`, times `weight` (saturating).
fn weighted_nanos(started: Instant, weight: u64) -> u64 {
    u64::try_from(started.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .saturating_mul(weight)
}

/// A message's sealed bytes, produced frame by frame from its plain source
/// (see [`Sealer::seal`]); a failing source fails the read.
pub(crate) struct SealedSource<'a, R> {
    key: &'a LessSafeKey,
    source: R,
    binding: [u8; 40],
    seq: u64,
    frame: u32,
    left: u64,
    frames_left: u64,
    /// Sealed bytes not handed out yet: `out[at..end]`.
    out: FrameBuffer,
    at: usize,
    end: usize,
    /// How much sealing this message counts in the statistics (see
    /// [`timing_weight`]).
    weight: u64,
    nanos: u64,
}

impl<R: Read> SealedSource<'_, R> {
    /// Time spent sealing so far (weighted, see [`timing_weight`]).
    pub(crate) fn nanos(&self) -> u64 {
        self.nanos
    }

    /// Plain bytes the next read takes from the source (a whole frame, read
    /// at once), or 0 if it takes none: a source that cannot block (the
    /// async link's reader) gets them ready first.
    #[cfg(feature = "tokio")]
    pub(crate) fn plain_wanted(&self) -> usize {
        if self.at < self.end || self.frames_left == 0 {
            return 0;
        }
        // At most FRAME_BYTES.
        self.left.min(FRAME_BYTES) as usize
    }

    /// The plain source.
    #[cfg(feature = "tokio")]
    pub(crate) fn source_mut(&mut self) -> &mut R {
        &mut self.source
    }

    /// Seals the next frame into `out` (the first after the seq); `false`
    /// after the last.
    fn refill(&mut self) -> io::Result<bool> {
        if self.frames_left == 0 {
            return Ok(false);
        }
        let n = self.left.min(FRAME_BYTES) as usize;
        let out = self.out.bytes_mut();
        let start = if self.frame == 0 {
            out[..8].copy_from_slice(&self.seq.to_le_bytes());
            SEQ_BYTES as usize
        } else {
            0
        };
        // `out` holds the seq, a whole frame and its tag (see `seal`).
        let (frame, tag) = out[start..].split_at_mut(n);
        self.source.read_exact(frame)?;
        let nanos = seal_frame(
            self.key,
            &self.binding,
            self.seq,
            self.frame,
            self.weight,
            frame,
            tag,
        )
        .map_err(|_| io::Error::other("frame too large to seal"))?;
        self.nanos = self.nanos.saturating_add(nanos);
        self.at = 0;
        self.end = start + n + TAG_BYTES as usize;
        self.frame = self.frame.wrapping_add(1);
        self.left -= n as u64;
        self.frames_left -= 1;
        Ok(true)
    }
}

impl<R: Read> Read for SealedSource<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.end && !self.refill()? {
            return Ok(0);
        }
        let ready = &self.out.bytes()[self.at..self.end];
        let n = ready.len().min(buf.len());
        buf[..n].copy_from_slice(&ready[..n]);
        self.at += n;
        Ok(n)
    }
}

/// Which sequence numbers were accepted: the newest, and a bitmap of the
/// [`REPLAY_WINDOW`] up to it, kept as a ring (bit `seq % REPLAY_WINDOW`),
/// so that accepting the next seq moves no bits: it clears only the places
/// of the seqs it skipped (as RFC 6479 does).
#[derive(Debug, Clone, Default)]
struct ReplayWindow {
    newest: Option<u64>,
    /// Bit `seq % 64` of word `seq / 64 % WORDS`: `seq` was accepted, for
    /// `seq` in `newest - REPLAY_WINDOW + 1 ..= newest`.
    seen: [u64; WINDOW_WORDS],
}

/// Words of the replay bitmap.
const WINDOW_WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// Where `seq`'s bit is: (word, bit).
fn window_place(seq: u64) -> (usize, u64) {
    (((seq / 64) % WINDOW_WORDS as u64) as usize, seq % 64)
}

impl ReplayWindow {
    fn check(&self, seq: u64) -> Result<(), OpenError> {
        let Some(newest) = self.newest else {
            return Ok(());
        };
        if seq > newest {
            return Ok(());
        }
        if newest - seq >= REPLAY_WINDOW {
            return Err(OpenError::TooOld { seq });
        }
        let (word, bit) = window_place(seq);
        if self.seen.get(word).is_some_and(|w| w & (1 << bit) != 0) {
            return Err(OpenError::Replayed { seq });
        }
        Ok(())
    }

    /// Records `seq` (already checked).
    fn mark(&mut self, seq: u64) {
        match self.newest {
            Some(newest) if seq <= newest => {}
            Some(newest) if seq - newest < REPLAY_WINDOW => {
                self.forget(newest + 1, seq);
                self.newest = Some(seq);
            }
            _ => {
                self.seen = Default::default();
                self.newest = Some(seq);
            }
        }
        let (word, bit) = window_place(seq);
        if let Some(word) = self.seen.get_mut(word) {
            *word |= 1 << bit;
        }
    }

    /// Clears the places of `from..=to` (fewer than [`REPLAY_WINDOW`]
    /// seqs), a word at a time: they now stand for these seqs, none of
    /// which was accepted yet.
    fn forget(&mut self, from: u64, to: u64) {
        let mut seq = from;
        while seq <= to {
            let (word, bit) = window_place(seq);
            let count = (64 - bit).min(to - seq + 1);
            let mask = if count == 64 {
                u64::MAX
            } else {
                ((1u64 << count) - 1) << bit
            };
            if let Some(word) = self.seen.get_mut(word) {
                *word &= !mask;
            }
            seq += count;
        }
    }
}

/// This side's receiving key and the sequence numbers it accepted.
pub(crate) struct Opener {
    key: LessSafeKey,
    window: ReplayWindow,
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener")
            .field("newest", &self.window.newest)
            .finish_non_exhaustive()
    }
}

impl Opener {
    pub(crate) fn new(cipher: Cipher, key: &[u8; KEY_BYTES]) -> Result<Opener, HandshakeError> {
        Ok(Opener {
            key: aead_key(cipher, key)?,
            window: ReplayWindow::default(),
        })
    }

    /// Opens frame `index` of message `seq`: the ciphertext with its tag
    /// is `in_out[from..]`, its plain bytes end up at the start of
    /// `in_out` (decrypted and moved in one pass); returns their length.
    /// Frame 0 is checked against the replay window first and marks `seq`
    /// once it authenticated.
    fn open_frame(
        &mut self,
        binding: &[u8; 40],
        seq: u64,
        index: u32,
        in_out: &mut [u8],
        from: usize,
    ) -> Result<usize, OpenError> {
        if index == 0 {
            self.window.check(seq)?;
        }
        if in_out.len() < from + TAG_BYTES as usize {
            return Err(OpenError::Forged);
        }
        let plain = self
            .key
            .open_within(nonce(seq, index), Aad::from(binding), in_out, from..)
            .map_err(|_| OpenError::Forged)?
            .len();
        if index == 0 {
            self.window.mark(seq);
        }
        Ok(plain)
    }

    /// Opens a whole sealed message in place: `data` becomes its plain
    /// bytes (no allocation). Returns the (weighted, see [`timing_weight`])
    /// nanoseconds it took.
    ///
    /// `data` is process-private: the receiver's one copy out of the
    /// segment. A message of one frame is opened straight there (one
    /// replay check, one AEAD open, no opening state); any other goes
    /// through [`OpenInPlace`]. Both refuse the same messages with the
    /// same errors.
    pub(crate) fn open_whole(
        &mut self,
        binding: &Binding,
        data: &mut Vec<u8>,
    ) -> Result<u64, OpenError> {
        match layout(binding.total) {
            Some((1, _)) if data.len() as u64 == binding.total => {}
            _ => return OpenInPlace::new(*binding)?.finish(self, data),
        }
        // At least SEQ_BYTES + TAG_BYTES long (`layout`).
        let seq = sealed_seq(data).ok_or(OpenError::Forged)?;
        let weight = timing_weight(seq, plain_total(binding, 1));
        let started = (weight != 0).then(Instant::now);
        let plain = self.open_frame(&binding.bytes(), seq, 0, data, SEQ_BYTES as usize)?;
        data.truncate(plain);
        Ok(started.map_or(0, |started| weighted_nanos(started, weight)))
    }
}

/// A sealed message assembled in one buffer and opened there frame by
/// frame as its bytes arrive, so that opening overlaps the sender's
/// sealing of the frames after. The buffer holds the plain bytes of the
/// opened frames at `..written`, then `written..read` that are spent, then
/// the sealed bytes not opened yet from `read` on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct OpenInPlace {
    binding: Binding,
    frames: u64,
    last_frame: u64,
    /// The message's seq, once its first 8 bytes arrived.
    seq: Option<u64>,
    /// Frames opened.
    index: u64,
    read: usize,
    written: usize,
}

impl OpenInPlace {
    /// The opening of a message whose first chunk says `binding`.
    pub(crate) fn new(binding: Binding) -> Result<OpenInPlace, OpenError> {
        let (frames, last_frame) = layout(binding.total).ok_or(OpenError::BadLength {
            total: binding.total,
        })?;
        Ok(OpenInPlace {
            binding,
            frames,
            last_frame,
            seq: None,
            index: 0,
            read: 0,
            written: 0,
        })
    }

    /// Whether a later chunk with `flags` belongs to this message.
    pub(crate) fn binds(&self, flags: FrameFlags) -> bool {
        Binding::flags_of(flags) == self.binding.flags
    }

    /// Where the next frame ends in the buffer (`None`: all are open).
    fn next_end(&self) -> Option<usize> {
        if self.index >= self.frames {
            return None;
        }
        let size = if self.index + 1 == self.frames {
            self.last_frame
        } else {
            FRAME_BYTES + TAG_BYTES
        };
        // At most the total, which the reassembler bounded to memory.
        Some(self.read.max(SEQ_BYTES as usize) + size as usize)
    }

    /// Opens every frame `data` (the message's bytes so far) holds whole;
    /// returns the (weighted, see [`timing_weight`]) nanoseconds it took.
    /// The clock is read only when a frame is complete.
    pub(crate) fn open_ready(
        &mut self,
        opener: &mut Opener,
        data: &mut [u8],
    ) -> Result<u64, OpenError> {
        let Some(end) = self.next_end().filter(|&end| end <= data.len()) else {
            return Ok(0);
        };
        let seq = match self.seq {
            Some(seq) => seq,
            None => {
                let seq = sealed_seq(data).ok_or(OpenError::Forged)?;
                self.read = SEQ_BYTES as usize;
                self.seq = Some(seq);
                seq
            }
        };
        let weight = timing_weight(seq, self.plain_total());
        let started = (weight != 0).then(Instant::now);
        let binding = self.binding.bytes();
        let mut end = end;
        loop {
            let in_out = data.get_mut(self.written..end).ok_or(OpenError::Forged)?;
            // `frames` < 2^32 (checked by `layout`).
            let plain = opener.open_frame(
                &binding,
                seq,
                self.index as u32,
                in_out,
                self.read - self.written,
            )?;
            self.written += plain;
            self.read = end;
            self.index += 1;
            match self.next_end().filter(|&next| next <= data.len()) {
                Some(next) => end = next,
                None => break,
            }
        }
        Ok(started.map_or(0, |started| weighted_nanos(started, weight)))
    }

    /// Opens what is left of the whole message `data` and cuts it to its
    /// plain bytes; returns the nanoseconds as [`open_ready`](Self::open_ready).
    pub(crate) fn finish(
        mut self,
        opener: &mut Opener,
        data: &mut Vec<u8>,
    ) -> Result<u64, OpenError> {
        let nanos = self.open_ready(opener, data)?;
        if self.index != self.frames || self.read != data.len() {
            return Err(OpenError::BadLength {
                total: self.binding.total,
            });
        }
        data.truncate(self.written);
        Ok(nanos)
    }

    fn plain_total(&self) -> u64 {
        plain_total(&self.binding, self.frames)
    }
}

/// Plain bytes of a sealed message of `frames` frames bound to `binding`.
fn plain_total(binding: &Binding, frames: u64) -> u64 {
    binding.total - SEQ_BYTES - frames * TAG_BYTES
}

/// A sealed message being opened as its chunks arrive (streamed receive):
/// holds at most one frame (64 KiB and a tag) between chunks.
#[derive(Debug)]
pub(crate) struct MessageOpener {
    binding: Binding,
    frames: u64,
    last_frame: u64,
    seq: [u8; 8],
    seq_len: usize,
    frame: Vec<u8>,
    index: u64,
    produced: u64,
}

impl MessageOpener {
    /// An opener for a message whose first chunk says `binding`.
    pub(crate) fn new(binding: Binding) -> Result<MessageOpener, OpenError> {
        let (frames, last_frame) = layout(binding.total).ok_or(OpenError::BadLength {
            total: binding.total,
        })?;
        Ok(MessageOpener {
            binding,
            frames,
            last_frame,
            seq: [0; 8],
            seq_len: 0,
            frame: Vec::new(),
            index: 0,
            produced: 0,
        })
    }

    /// Whether a later chunk with `flags` belongs to this message.
    pub(crate) fn binds(&self, flags: FrameFlags) -> bool {
        Binding::flags_of(flags) == self.binding.flags
    }

    /// Plain bytes produced so far.
    pub(crate) fn produced(&self) -> u64 {
        self.produced
    }

    /// Plain bytes of the whole message.
    pub(crate) fn plain_total(&self) -> u64 {
        plain_total(&self.binding, self.frames)
    }

    /// Takes the next sealed `bytes` (in order), appending to `out` the
    /// plain bytes of every frame they complete.
    pub(crate) fn push(
        &mut self,
        opener: &mut Opener,
        mut bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), OpenError> {
        while self.seq_len < 8 && !bytes.is_empty() {
            self.seq[self.seq_len] = bytes[0];
            self.seq_len += 1;
            bytes = &bytes[1..];
        }
        let binding = self.binding.bytes();
        let seq = u64::from_le_bytes(self.seq);
        while !bytes.is_empty() {
            if self.index >= self.frames {
                return Err(OpenError::BadLength {
                    total: self.binding.total,
                });
            }
            let size = if self.index + 1 == self.frames {
                self.last_frame
            } else {
                FRAME_BYTES + TAG_BYTES
            } as usize;
            let take = (size - self.frame.len()).min(bytes.len());
            self.frame.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.frame.len() == size {
                // `frames` < 2^32 (checked by `layout`).
                let plain =
                    opener.open_frame(&binding, seq, self.index as u32, &mut self.frame, 0)?;
                out.extend_from_slice(&self.frame[..plain]);
                self.produced += plain as u64;
                self.frame.clear();
                self.index += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Version;
    use crate::protocol::{Capabilities, Features};

    fn binding(total: u64) -> Binding {
        Binding {
            connection: 3,
            message: 9,
            flags: FrameFlags::ENCRYPTED,
            method_or_status: 0,
            total,
        }
    }

    fn seal(sealer: &Sealer, plain: &[u8]) -> (Binding, Vec<u8>) {
        let total = sealed_len(plain.len() as u64).unwrap();
        let b = binding(total);
        let mut source: &[u8] = plain;
        let mut out = Vec::new();
        sealer
            .seal(&b, &mut source, plain.len() as u64)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len() as u64, total);
        (b, out)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn sealed_sizes_and_layouts_agree() {
        for plain in [0, 1, 15, 16, 65535, 65536, 65537, 200_000, 131_072] {
            let total = sealed_len(plain).unwrap();
            let (frames, last) = layout(total).unwrap();
            assert_eq!(frames, plain.div_ceil(FRAME_BYTES).max(1), "{plain}");
            assert_eq!(total - 8 - frames * 16, plain);
            assert!(last >= 16);
        }
        for bad in [0, 7, 8, 23, 8 + 65552 + 15] {
            assert_eq!(layout(bad), None, "{bad}");
        }
    }

    #[test]
    fn short_messages_are_timed_one_in_sixty_four() {
        let weights: Vec<u64> = (0..=TIMING_SAMPLE)
            .map(|seq| timing_weight(seq, 64))
            .collect();
        assert_eq!(weights.iter().sum::<u64>(), 2 * TIMING_SAMPLE);
        assert_eq!(weights[0], TIMING_SAMPLE);
        assert_eq!(weights[TIMING_SAMPLE as usize], TIMING_SAMPLE);
        assert!((1..=TIMING_SAMPLE).all(|seq| timing_weight(seq, TIMED_BYTES) == 1));
    }

    #[test]
    fn whole_streamed_and_assembled_opening_at_any_split() {
        for cipher in Cipher::ALL {
            let key = [5u8; 32];
            let sealer = Sealer::new(cipher, &key).unwrap();
            for n in [0usize, 1, 1000, 65536, 65537, 150_000] {
                let plain = data(n);
                let (b, sealed) = seal(&sealer, &plain);
                let mut whole = sealed.clone();
                Opener::new(cipher, &key)
                    .unwrap()
                    .open_whole(&b, &mut whole)
                    .unwrap();
                assert_eq!(whole, plain);
                for split in [1usize, 7, 4096, 70_000] {
                    let mut opener = Opener::new(cipher, &key).unwrap();
                    let mut streamed = MessageOpener::new(b).unwrap();
                    let mut out = Vec::new();
                    for piece in sealed.chunks(split) {
                        streamed.push(&mut opener, piece, &mut out).unwrap();
                    }
                    assert_eq!(out, plain);
                    assert_eq!(streamed.plain_total(), n as u64);
                    // Assembled in one buffer, each frame opened as it
                    // completes.
                    let mut opener = Opener::new(cipher, &key).unwrap();
                    let mut opening = OpenInPlace::new(b).unwrap();
                    let mut assembled = Vec::new();
                    for piece in sealed.chunks(split) {
                        assembled.extend_from_slice(piece);
                        opening.open_ready(&mut opener, &mut assembled).unwrap();
                    }
                    assert_eq!(opening.index, opening.frames);
                    opening.finish(&mut opener, &mut assembled).unwrap();
                    assert_eq!(assembled, plain);
                }
            }
        }
    }

    #[test]
    fn sealing_whole_writes_what_sealing_frame_by_frame_writes() {
        for cipher in Cipher::ALL {
            let key = [6u8; 32];
            let (by_frames, whole) = (
                Sealer::new(cipher, &key).unwrap(),
                Sealer::new(cipher, &key).unwrap(),
            );
            // On the stack up to 232 bytes (256 sealed), else in one buffer.
            for n in [0usize, 1, 64, 232, 233, 4000, 65536] {
                let plain = data(n);
                let (b, expected) = seal(&by_frames, &plain);
                let (sealed, _) = whole.seal_whole(&b, &plain, <[u8]>::to_vec).unwrap();
                assert_eq!(sealed, expected, "{n} bytes");
            }
            assert!(whole
                .seal_whole(&binding(0), &data(65537), |_| ())
                .is_none());
        }
    }

    #[test]
    fn every_changed_byte_and_binding_is_refused() {
        for cipher in Cipher::ALL {
            let key = [1u8; 32];
            let sealer = Sealer::new(cipher, &key).unwrap();
            let (b, sealed) = seal(&sealer, &data(100));
            for i in 0..sealed.len() {
                let mut changed = sealed.clone();
                changed[i] ^= 0x20;
                let got = Opener::new(cipher, &key)
                    .unwrap()
                    .open_whole(&b, &mut changed);
                assert_eq!(got, Err(OpenError::Forged), "byte {i}");
            }
            let moved = Binding { message: 10, ..b };
            let mut copy = sealed.clone();
            assert_eq!(
                Opener::new(cipher, &key)
                    .unwrap()
                    .open_whole(&moved, &mut copy),
                Err(OpenError::Forged)
            );
            let mut copy = sealed.clone();
            assert_eq!(
                Opener::new(cipher, &[2u8; 32])
                    .unwrap()
                    .open_whole(&b, &mut copy),
                Err(OpenError::Forged)
            );
            let mut cut = sealed[..sealed.len() - 1].to_vec();
            let cut_binding = Binding {
                total: cut.len() as u64,
                ..b
            };
            assert!(Opener::new(cipher, &key)
                .unwrap()
                .open_whole(&cut_binding, &mut cut)
                .is_err());
        }
    }

    #[test]
    fn frames_swapped_between_messages_are_refused() {
        for cipher in Cipher::ALL {
            let key = [9u8; 32];
            let sealer = Sealer::new(cipher, &key).unwrap();
            let plain = data(2 * 65536);
            let (b, first) = seal(&sealer, &plain);
            let (_, second) = seal(&sealer, &plain);
            // The second message's frame 1 with the first one's seq and frame 0.
            let mut mixed = first.clone();
            let at = 8 + 65536 + 16;
            mixed[at..].copy_from_slice(&second[at..]);
            assert_eq!(
                Opener::new(cipher, &key)
                    .unwrap()
                    .open_whole(&b, &mut mixed),
                Err(OpenError::Forged)
            );
        }
    }

    #[test]
    fn a_sequence_number_is_accepted_once() {
        for cipher in Cipher::ALL {
            let key = [3u8; 32];
            let sealer = Sealer::new(cipher, &key).unwrap();
            let mut opener = Opener::new(cipher, &key).unwrap();
            let messages: Vec<_> = (0..1100).map(|_| seal(&sealer, b"hello")).collect();
            // Out of order within the window is fine, once.
            for i in [5usize, 3, 4, 0, 1, 2] {
                let (b, mut m) = messages[i].clone();
                opener.open_whole(&b, &mut m).unwrap();
            }
            let (b, mut again) = messages[3].clone();
            assert_eq!(
                opener.open_whole(&b, &mut again),
                Err(OpenError::Replayed { seq: 3 })
            );
            for (b, m) in &messages[6..1100] {
                opener.open_whole(b, &mut m.clone()).unwrap();
            }
            let (b, mut old) = messages[6].clone();
            assert_eq!(
                opener.open_whole(&b, &mut old),
                Err(OpenError::TooOld { seq: 6 })
            );
            let (b, mut recent) = messages[1099].clone();
            assert_eq!(
                opener.open_whole(&b, &mut recent),
                Err(OpenError::Replayed { seq: 1099 })
            );
        }
    }

    #[test]
    fn the_window_moves_by_any_amount() {
        let mut window = ReplayWindow::default();
        let mut accepted = Vec::new();
        let mut seq = 0u64;
        for step in [1u64, 63, 64, 65, 1, 200, 1023, 1, 1024, 3000, 7] {
            seq += step;
            window.check(seq).unwrap();
            window.mark(seq);
            accepted.push(seq);
            for &old in &accepted {
                let got = window.check(old);
                if seq - old >= REPLAY_WINDOW {
                    assert_eq!(got, Err(OpenError::TooOld { seq: old }));
                } else {
                    assert_eq!(got, Err(OpenError::Replayed { seq: old }));
                }
            }
            if seq > 0 {
                assert!(window.check(seq - 1).is_ok() || accepted.contains(&(seq - 1)));
            }
        }
    }

    #[test]
    fn the_window_agrees_with_a_set_of_every_accepted_seq() {
        let mut window = ReplayWindow::default();
        let mut accepted = std::collections::HashSet::new();
        let mut newest: Option<u64> = None;
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly near the newest (below and above it), now and then a jump.
            let top = newest.unwrap_or(0);
            let seq = match x % 16 {
                0 => top + 1 + (x >> 8) % 3000,
                1..=7 => top + (x >> 8) % 3,
                _ => top.saturating_sub((x >> 8) % 1100),
            };
            let expected = match newest {
                Some(n) if seq <= n && n - seq >= REPLAY_WINDOW => Err(OpenError::TooOld { seq }),
                Some(n) if seq <= n && accepted.contains(&seq) => Err(OpenError::Replayed { seq }),
                _ => Ok(()),
            };
            assert_eq!(window.check(seq), expected, "seq {seq}, newest {newest:?}");
            if expected.is_ok() {
                window.mark(seq);
                accepted.insert(seq);
                newest = Some(newest.map_or(seq, |n| n.max(seq)));
            }
        }
    }

    #[test]
    fn handshakes_agree_on_keys_or_fail_typed() {
        let negotiated = Negotiated {
            version: Version::new(1, 1),
            features: Features::LARGE_COPY | Features::ENCRYPTION,
            capabilities: Capabilities::LOW_LATENCY,
            elapsed: std::time::Duration::ZERO,
        };
        let both = CipherSet::offered(None);
        let agree = |a: Keys, b: Keys, other: &Negotiated, ours, theirs| {
            let (init, step1) = NoiseHandshake::initiate(&a, ours, &negotiated)?;
            let resp = NoiseHandshake::respond(&b, theirs, other)?;
            let (resp_keys, step2) = resp.take(1, init.pattern(), &step1)?;
            let (init_keys, none) = init.take(2, b.pattern(), &step2.unwrap())?;
            assert!(none.is_none());
            assert_eq!(init_keys.send, resp_keys.receive);
            assert_eq!(init_keys.receive, resp_keys.send);
            assert_ne!(init_keys.send, init_keys.receive);
            assert_eq!(init_keys.cipher, resp_keys.cipher);
            Ok::<_, HandshakeError>(init_keys.cipher)
        };
        let run = |a, b, other: &Negotiated| agree(a, b, other, both, both).map(drop);
        let psk = Keys::pre_shared([4; 32]);
        run(psk, psk, &negotiated).unwrap();
        let (pa, pub_a) = Keys::generate_key_pair().unwrap();
        let (pb, pub_b) = Keys::generate_key_pair().unwrap();
        let (a, b) = (Keys::static_keys(pa, pub_b), Keys::static_keys(pb, pub_a));
        run(a, b, &negotiated).unwrap();
        assert_eq!(
            run(psk, Keys::pre_shared([5; 32]), &negotiated),
            Err(HandshakeError::Failed)
        );
        assert_eq!(
            run(a, Keys::static_keys(pb, pub_b), &negotiated),
            Err(HandshakeError::Failed)
        );
        assert!(matches!(
            run(psk, b, &negotiated),
            Err(HandshakeError::PatternMismatch { .. })
        ));
        let changed = Negotiated {
            features: Features::LARGE_COPY,
            ..negotiated
        };
        assert_eq!(run(psk, psk, &changed), Err(HandshakeError::Failed));
        let (init, step1) = NoiseHandshake::initiate(&psk, both, &negotiated).unwrap();
        assert_eq!(
            init.take(1, HandshakePattern::NNpsk0, &step1).map(drop),
            Err(HandshakeError::OutOfTurn)
        );
    }

    #[test]
    fn handshakes_agree_on_a_cipher_both_offer() {
        let negotiated = Negotiated {
            version: Version::new(1, 1),
            features: Features::LARGE_COPY | Features::ENCRYPTION,
            capabilities: Capabilities::empty(),
            elapsed: std::time::Duration::ZERO,
        };
        let psk = Keys::pre_shared([4; 32]);
        let agree = |ours: CipherSet, theirs: CipherSet| {
            let (init, step1) = NoiseHandshake::initiate(&psk, ours, &negotiated)?;
            let resp = NoiseHandshake::respond(&psk, theirs, &negotiated)?;
            let (resp_keys, step2) = resp.take(1, init.pattern(), &step1)?;
            let (init_keys, _) = init.take(2, psk.pattern(), &step2.unwrap_or_default())?;
            assert_eq!(init_keys.cipher, resp_keys.cipher);
            Ok::<_, HandshakeError>(init_keys.cipher)
        };
        let (chacha, aes) = (
            CipherSet::of(Cipher::ChaCha20Poly1305),
            CipherSet::of(Cipher::Aes256Gcm),
        );
        let both = CipherSet(chacha.0 | aes.0);
        assert_eq!(agree(both, both), Ok(Cipher::Aes256Gcm));
        assert_eq!(agree(chacha, both), Ok(Cipher::ChaCha20Poly1305));
        assert_eq!(agree(both, chacha), Ok(Cipher::ChaCha20Poly1305));
        assert_eq!(agree(aes, aes), Ok(Cipher::Aes256Gcm));
        assert_eq!(agree(aes, chacha), Err(HandshakeError::NoCommonCipher));
        assert_eq!(agree(chacha, aes), Err(HandshakeError::NoCommonCipher));
        // What this CPU offers by default always includes ChaCha20-Poly1305.
        assert!(CipherSet::offered(None).contains(Cipher::ChaCha20Poly1305));
        assert_eq!(CipherSet::offered(Some(Cipher::Aes256Gcm)), aes);
    }

    #[test]
    fn handshakes_without_cipher_payloads_mean_chacha20_poly1305() {
        // The first releases send both steps with empty payloads.
        let negotiated = Negotiated {
            version: Version::new(1, 1),
            features: Features::LARGE_COPY | Features::ENCRYPTION,
            capabilities: Capabilities::empty(),
            elapsed: std::time::Duration::ZERO,
        };
        let psk = Keys::pre_shared([6; 32]);
        let both = CipherSet(3);
        let mut old = NoiseHandshake::build(&psk, both, &negotiated, true).unwrap();
        let step1 = old.write(&[]).unwrap();
        let resp = NoiseHandshake::respond(&psk, both, &negotiated).unwrap();
        let (keys, step2) = resp.take(1, psk.pattern(), &step1).unwrap();
        assert_eq!(keys.cipher, Cipher::ChaCha20Poly1305);
        assert_eq!(old.read(psk.pattern(), &step2.unwrap()), Ok(Some(1)));

        let (init, step1) = NoiseHandshake::initiate(&psk, both, &negotiated).unwrap();
        let mut old = NoiseHandshake::build(&psk, both, &negotiated, false).unwrap();
        assert_eq!(old.read(psk.pattern(), &step1), Ok(Some(3)));
        let step2 = old.write(&[]).unwrap();
        let (keys, _) = init.take(2, psk.pattern(), &step2).unwrap();
        assert_eq!(keys.cipher, Cipher::ChaCha20Poly1305);
    }

    #[test]
    fn a_frame_sealed_with_one_cipher_does_not_open_with_the_other() {
        let key = [8u8; 32];
        let aes = Sealer::new(Cipher::Aes256Gcm, &key).unwrap();
        let (b, mut sealed) = seal(&aes, &data(300));
        let mut chacha = Opener::new(Cipher::ChaCha20Poly1305, &key).unwrap();
        assert_eq!(chacha.open_whole(&b, &mut sealed), Err(OpenError::Forged));
    }
}
