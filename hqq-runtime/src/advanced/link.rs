//! The Advanced link: negotiation, logical connections, chunked large
//! messages and request-response over a link's rings and buffers.
//!
//! # Receive path
//!
//! There is no receiver thread. Every blocking call waits for one thing in
//! the inbox (an ack, a dial outcome, a message of its connection, a
//! request, the response to its call). While it waits, one thread at a time
//! *pumps*: it receives packets from the ring and routes each one into the
//! inbox; the others sleep until something they may wait for was routed or
//! the pump is free (the `pump` module says how). So a lone caller receives
//! its own response with no thread hop, and concurrent callers and
//! receivers never take each other's frames.
//!
//! # Deadlines
//!
//! Every blocking call has a form with an explicit deadline (`*_until`);
//! the plain form uses [`AdvancedConfig::timeout`] from now, and the
//! receiving calls have `try_*` forms that do a bounded amount of pumping
//! and return at once. Work done for others (routing, answering the peer)
//! never blocks: replies the peer owes us room for are queued and sent when
//! its ring has room, or dropped and counted.
//!
//! # Memory
//!
//! What the link holds for the application (messages being assembled,
//! whole messages, requests, responses and streamed chunks not yet taken)
//! is bounded by one [`ReceiveBudget`]; see [`budget`](super::budget) for
//! what happens when it is full.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::advanced::budget::ReceiveBudget;
use crate::advanced::compression::{Codec, Compression};
use crate::advanced::connections::first_dial_id;
use crate::advanced::encryption::{Encryption, HandshakeError, Keys, Sealer};
use crate::advanced::endpoint::{check_sole_endpoint, AdvancedOpenError};
use crate::advanced::error::{
    AcceptError, AcceptNegotiationError, AdvancedStateError, CloseError, DialError, NegotiateError,
};
use crate::advanced::flow::{Flow, FlowControl};
use crate::advanced::handshake::EncryptionHandshake;
use crate::advanced::inbox::{Inbox, IncomingRequest};
use crate::advanced::negotiation::{
    accept, check_ack, Negotiated, NegotiationState, ProtocolOffer,
};
use crate::advanced::pump::Wait;
use crate::advanced::qos::SendScheduler;
use crate::advanced::reassembly::ReassemblyLimits;
use crate::advanced::stats::{AdvancedCounters, AdvancedStats};
use crate::advanced::transport::{PacketTransport, TransportError};
use crate::codec::{Limits, PacketCodec};
use crate::link::{instant_after, LinkConfig, StandardLink};
use crate::packet::Packet;
use crate::protocol::{
    Cipher, ConnAccept, ConnClose, ConnCreate, Error, ErrorCode, Features, OpCode, ProtoNegotiate,
};
use crate::stats::{role_word, ConnectionStats, Latencies, Statistics};

/// How an Advanced link behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvancedConfig {
    /// What this side speaks when it negotiates or accepts a negotiation.
    pub offer: ProtocolOffer,
    /// Deadline of every blocking call without an explicit one (default 10 s).
    pub timeout: Duration,
    /// Bounds on messages being received.
    pub reassembly: ReassemblyLimits,
    /// Bounds on everything received and not yet taken.
    pub budget: ReceiveBudget,
    /// How this side compresses what it sends once Compression is
    /// negotiated (`None`: never). Set it with
    /// [`compression`](Self::compression), which also asks for the feature.
    pub compression: Option<Compression>,
    /// The credit windows once FlowControl is negotiated (`None`: the
    /// defaults). Set it with [`flow_control`](Self::flow_control), which
    /// also asks for the feature.
    pub flow_control: Option<FlowControl>,
    /// The keys this side encrypts with once Encryption is negotiated
    /// (`None`: never). Set it with [`encryption`](Self::encryption) or
    /// [`encryption_required`](Self::encryption_required), which also ask
    /// for the feature.
    pub encryption: Option<Encryption>,
    /// The only cipher this side offers in the encryption handshake
    /// (`None`: ChaCha20-Poly1305, and AES-256-GCM too where this CPU has
    /// AES instructions; the acceptor prefers AES-256-GCM when both offer
    /// it). Set it with [`cipher`](Self::cipher).
    pub cipher: Option<Cipher>,
}

impl AdvancedConfig {
    /// Asks for the Compression feature and, once both sides granted it,
    /// compresses every message of at least `threshold` bytes with `codec`
    /// (sends, calls and responses from memory; `send_large_from` streams
    /// raw). A message that does not shrink is sent raw.
    ///
    /// ```
    /// use hqq_runtime::advanced::{AdvancedConfig, Codec};
    /// use hqq_runtime::protocol::Features;
    ///
    /// let config = AdvancedConfig::default().compression(Codec::Lz4, 4096);
    /// assert!(config.offer.features.contains(Features::COMPRESSION));
    /// ```
    pub fn compression(mut self, codec: Codec, threshold: u64) -> Self {
        self.compression = Some(Compression::new(codec, threshold));
        self.offer.features |= Features::COMPRESSION;
        self
    }

    /// Asks for the FlowControl feature with `flow`'s windows: once both
    /// sides granted it, no connection has more than its credit of data in
    /// flight (see [`flow`](super::flow)).
    pub fn flow_control(mut self, flow: FlowControl) -> Self {
        self.flow_control = Some(flow);
        self.offer.features |= Features::FLOW_CONTROL;
        self
    }

    /// Asks for the QualityOfService feature: once both sides granted it,
    /// [`AdvancedLink::set_priority`] and
    /// [`AdvancedLink::set_bandwidth_cap`] schedule this side's sends (see
    /// [`qos`](super::qos)).
    ///
    /// ```
    /// use hqq_runtime::advanced::AdvancedConfig;
    /// use hqq_runtime::protocol::Features;
    ///
    /// let config = AdvancedConfig::default().quality_of_service();
    /// assert!(config.offer.features.contains(Features::QUALITY_OF_SERVICE));
    /// ```
    pub fn quality_of_service(mut self) -> Self {
        self.offer.features |= Features::QUALITY_OF_SERVICE;
        self
    }
    /// Asks for the Encryption feature with `keys`. When the peer asks for
    /// it too (so it was given keys as well), the negotiation runs a Noise
    /// handshake before it returns, and every message is then sealed (see
    /// [`encryption`](super::encryption), which states the threat model).
    /// A peer that does not ask (such as the established Go implementation)
    /// gets a plain link; use [`encryption_required`](Self::encryption_required)
    /// to refuse it instead.
    ///
    /// ```
    /// use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, Keys};
    /// use hqq_runtime::link::LinkConfig;
    /// use hqq_runtime::protocol::Features;
    ///
    /// let config = AdvancedConfig::default().encryption(Keys::pre_shared([42; 32]));
    /// let (a, b) = AdvancedLink::pair(LinkConfig::new().slots(8).buffer_size(64), config)?;
    /// let negotiated = std::thread::scope(|s| {
    ///     s.spawn(|| b.wait_for_negotiation().map(drop));
    ///     a.negotiate(config.offer)
    /// })?;
    /// assert!(negotiated.features.contains(Features::ENCRYPTION));
    /// a.send_large(0, b"sealed")?;
    /// assert_eq!(b.recv_large(0)?.data, b"sealed");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encryption(mut self, keys: Keys) -> Self {
        self.encryption = Some(Encryption {
            keys,
            required: false,
        });
        self.offer.features |= Features::ENCRYPTION;
        self
    }

    /// [`encryption`](Self::encryption), but a negotiation that does not
    /// grant Encryption fails ([`HandshakeError::NotGranted`]),
    /// so a process that writes the segment cannot strip the feature bit
    /// and get a plain link.
    pub fn encryption_required(self, keys: Keys) -> Self {
        let mut config = self.encryption(keys);
        config.encryption = Some(Encryption {
            keys,
            required: true,
        });
        config
    }

    /// Offers only `cipher` in the encryption handshake (instead of
    /// letting the two sides pick the fastest both have): a handshake with
    /// a peer that does not offer it fails with
    /// [`HandshakeError::NoCommonCipher`].
    ///
    /// ```
    /// use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, Keys};
    /// use hqq_runtime::link::LinkConfig;
    /// use hqq_runtime::protocol::Cipher;
    ///
    /// let config = AdvancedConfig::default()
    ///     .encryption(Keys::pre_shared([42; 32]))
    ///     .cipher(Cipher::ChaCha20Poly1305);
    /// let (a, b) = AdvancedLink::pair(LinkConfig::new().slots(8).buffer_size(64), config)?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| b.wait_for_negotiation().map(drop));
    ///     a.negotiate(config.offer)
    /// })?;
    /// assert_eq!(a.cipher(), Some(Cipher::ChaCha20Poly1305));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cipher(mut self, cipher: Cipher) -> Self {
        self.cipher = Some(cipher);
        self
    }
}

impl Default for AdvancedConfig {
    fn default() -> Self {
        AdvancedConfig {
            offer: ProtocolOffer::default(),
            timeout: Duration::from_secs(10),
            reassembly: ReassemblyLimits::default(),
            budget: ReceiveBudget::default(),
            compression: None,
            flow_control: None,
            encryption: None,
            cipher: None,
        }
    }
}

/// A whole plain message received on a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReceivedMessage {
    /// The sender's message id.
    pub message: u64,
    /// The message's bytes.
    pub data: Vec<u8>,
}

/// A request received by a server; answer it with [`AdvancedLink::respond`].
pub type Request = IncomingRequest;

/// An Advanced link over a [`PacketTransport`] (by default a
/// [`StandardLink`]'s rings and buffers).
///
/// `Send + Sync`: share it between threads by reference or `Arc`. Dropping
/// it closes its open connections (one attempt each, no waiting).
///
/// ```
/// use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink};
/// use hqq_runtime::link::LinkConfig;
///
/// let (a, b) = AdvancedLink::pair(LinkConfig::new().slots(8).buffer_size(64), AdvancedConfig::default())?;
/// std::thread::scope(|s| {
///     s.spawn(|| b.wait_for_negotiation().map(drop));
///     a.negotiate(AdvancedConfig::default().offer)
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AdvancedLink<T: PacketTransport = StandardLink> {
    pub(super) transport: T,
    pub(super) config: AdvancedConfig,
    pub(super) limits: Limits,
    state: Mutex<NegotiationState>,
    /// The negotiated features with [`NEGOTIATED`] set, once negotiated:
    /// every operation checks them without taking the `state` lock.
    features: AtomicU64,
    pub(super) inbox: Mutex<Inbox>,
    /// Signalled when something was routed that a sleeper may wait for,
    /// or the pump became free.
    pub(super) arrived: Condvar,
    next_message: AtomicU64,
    pub(crate) counters: AdvancedCounters,
    /// Whose chunk goes next, once QualityOfService is negotiated.
    pub(super) scheduler: SendScheduler,
    /// This side's sending key, set by the handshake before the link is
    /// marked negotiated with Encryption.
    sealer: OnceLock<Sealer>,
}

/// Takes the peer's answer to our ProtoNegotiate from `inbox`.
pub(crate) fn take_negotiate_answer(inbox: &mut Inbox) -> Option<Packet> {
    let answer = inbox.negotiate_answer.take()?;
    inbox.awaiting_ack = false;
    Some(answer)
}

/// What the peer's `answer` (ProtoAck or Error) to `offer` makes of a
/// negotiation begun at `started`.
pub(crate) fn negotiation_outcome(
    offer: &ProtocolOffer,
    answer: &Packet,
    started: Instant,
) -> Result<Negotiated, NegotiateError> {
    if answer.opcode() == OpCode::Error.code() {
        let code = Error::decode(answer)
            .map(|e| e.code)
            .unwrap_or(ErrorCode::InvalidOp);
        return Err(NegotiateError::Refused(code));
    }
    let (version, features, capabilities) = check_ack(offer, answer)?;
    Ok(Negotiated {
        version,
        features,
        capabilities,
        elapsed: started.elapsed(),
    })
}

/// How the acceptor answers a ProtoNegotiate (see
/// [`AdvancedLink::answer_request`]).
#[derive(Debug)]
pub(crate) enum Answer {
    /// Send the Error packet, then fail with the error.
    Refuse(Packet, AcceptNegotiationError),
    /// Send the ack: negotiated (already recorded).
    Plain(Packet, Negotiated),
    /// Run the handshake (its first step sends the ack).
    Handshake(EncryptionHandshake, Negotiated),
}

/// The bit of `AdvancedLink::features` that says the link negotiated (no
/// feature has it).
const NEGOTIATED: u64 = 1 << 63;

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: PacketTransport> AdvancedLink<T> {
    /// An Advanced link over `transport` with `config`. It must negotiate
    /// before any other Advanced call. The caller makes sure that no other
    /// Advanced endpoint shares its side of the transport (see
    /// [`AdvancedLink::open`]).
    pub fn new(transport: T, config: AdvancedConfig) -> Self {
        let limits = Limits {
            buffer_size: transport.buffer_size() as u64,
            slot_count: transport.slots(),
            max_message_size: config.reassembly.max_message_size,
        };
        let inbox = Inbox::new(
            limits,
            config.reassembly,
            config.budget,
            first_dial_id(transport.role()),
        );
        let counters = AdvancedCounters::new(
            transport
                .statistics()
                .unwrap_or_else(|| Statistics::private(role_word(transport.role()))),
        );
        AdvancedLink {
            inbox: Mutex::new(inbox),
            transport,
            config,
            limits,
            state: Mutex::new(NegotiationState::NotNegotiated),
            features: AtomicU64::new(0),
            arrived: Condvar::new(),
            next_message: AtomicU64::new(1),
            counters,
            scheduler: SendScheduler::default(),
            sealer: OnceLock::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AdvancedConfig {
        &self.config
    }

    /// The transport below.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Where the negotiation stands.
    pub fn negotiation_state(&self) -> NegotiationState {
        *lock(&self.state)
    }

    /// The negotiated version, features and capabilities, once negotiated.
    pub fn negotiated(&self) -> Option<Negotiated> {
        lock(&self.state).negotiated()
    }

    /// A snapshot of the link's counters.
    pub fn stats(&self) -> AdvancedStats {
        let (bytes, entries) = lock(&self.inbox).held();
        self.counters.snapshot(bytes, entries)
    }

    /// What each connection in use carried: messages and bytes per
    /// direction (connection 0 is the link itself; connections beyond
    /// [`CONNECTION_SLOTS`](crate::stats::CONNECTION_SLOTS) at once share
    /// one entry whose `connection` is `None`).
    pub fn connection_stats(&self) -> Vec<ConnectionStats> {
        self.counters.connections()
    }

    /// Latency histograms of calls and of message delivery (see
    /// [`Latencies`]).
    ///
    /// ```
    /// use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink};
    /// use hqq_runtime::link::LinkConfig;
    ///
    /// let (a, b) = AdvancedLink::pair(LinkConfig::new().slots(8).buffer_size(64), AdvancedConfig::default())?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| b.wait_for_negotiation().map(drop));
    ///     a.negotiate(AdvancedConfig::default().offer)
    /// })?;
    /// a.send_large(0, &[7; 150])?;
    /// let delivered = a.latencies().deliveries;
    /// assert_eq!(delivered.len(), 1);
    /// println!("p99 send: {} ns", delivered.value_at_quantile(0.99));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn latencies(&self) -> Latencies {
        self.counters.latencies()
    }

    /// The statistics block this link counts into (shared with the
    /// Standard link below; published when
    /// [`LinkConfig::publish_stats`] was set).
    pub fn statistics(&self) -> &Statistics {
        self.counters.statistics()
    }

    /// The default deadline: [`AdvancedConfig::timeout`] from now.
    pub(super) fn deadline(&self) -> Instant {
        instant_after(self.config.timeout)
    }

    /// Starts the negotiation; `false` if one already ran.
    pub(crate) fn start_negotiation(&self) -> bool {
        lock(&self.state).start().is_ok()
    }

    /// This side initiated the negotiation: the peer's answer is expected.
    pub(crate) fn expect_ack(&self) {
        lock(&self.inbox).awaiting_ack = true;
    }

    /// Records how the negotiation ended (a failure is for good).
    pub(crate) fn finish_negotiation<E>(
        &self,
        outcome: Result<Negotiated, E>,
    ) -> Result<Negotiated, E> {
        let mut state = lock(&self.state);
        match outcome {
            Ok(negotiated) => {
                self.set_negotiated(&mut state, negotiated);
                self.counters.negotiated(negotiated.elapsed);
            }
            Err(_) => {
                *state = NegotiationState::Failed;
                self.features.store(0, Ordering::Release);
                self.counters.error();
            }
        }
        outcome
    }

    /// Initiates the negotiation with `offer` (version, requested features,
    /// offered capabilities) and waits for the peer's answer.
    pub fn negotiate(&self, offer: ProtocolOffer) -> Result<Negotiated, NegotiateError> {
        self.negotiate_until(offer, self.deadline())
    }

    /// [`negotiate`](Self::negotiate) with a deadline.
    pub fn negotiate_until(
        &self,
        offer: ProtocolOffer,
        deadline: Instant,
    ) -> Result<Negotiated, NegotiateError> {
        if !self.start_negotiation() {
            return Err(NegotiateError::AlreadyNegotiated);
        }
        let started = Instant::now();
        self.expect_ack();
        let outcome = self
            .send_control(offer.request().encode(), deadline)
            .map_err(NegotiateError::from)
            .and_then(|()| {
                self.wait_for(Wait::Until(deadline), take_negotiate_answer)
                    .map_err(NegotiateError::from)
            })
            .and_then(|answer| {
                let negotiated = negotiation_outcome(&offer, &answer, started)?;
                if let Some(handshake) = EncryptionHandshake::initiate(self, &negotiated)? {
                    self.drive_handshake(handshake, deadline)?;
                }
                Ok(Negotiated {
                    elapsed: started.elapsed(),
                    ..negotiated
                })
            });
        self.finish_negotiation(outcome)
    }

    /// Waits for the peer's ProtoNegotiate and answers it with what this
    /// side speaks ([`AdvancedConfig::offer`]); a different major version
    /// is refused with `Error(InvalidOp)`.
    pub fn wait_for_negotiation(&self) -> Result<Negotiated, AcceptNegotiationError> {
        self.wait_for_negotiation_until(self.deadline())
    }

    /// [`wait_for_negotiation`](Self::wait_for_negotiation) with a deadline.
    pub fn wait_for_negotiation_until(
        &self,
        deadline: Instant,
    ) -> Result<Negotiated, AcceptNegotiationError> {
        if !self.start_negotiation() {
            return Err(AcceptNegotiationError::AlreadyNegotiated);
        }
        let started = Instant::now();
        let outcome = self
            .wait_for(Wait::Until(deadline), |inbox| {
                inbox.negotiate_request.take()
            })
            .map_err(AcceptNegotiationError::from)
            .and_then(|packet| {
                // The inbox keeps only ProtoNegotiate packets that decode.
                let request = ProtoNegotiate::decode(&packet)
                    .map_err(|_| AcceptNegotiationError::Transport(TransportError::Corrupt))?;
                self.answer_and_handshake(&request, started, deadline)
            });
        self.finish_negotiation(outcome)
    }

    /// Answers the peer's `request`: ProtoAck (followed by the handshake
    /// when Encryption is granted), or an Error packet refusing it.
    fn answer_and_handshake(
        &self,
        request: &ProtoNegotiate,
        started: Instant,
        deadline: Instant,
    ) -> Result<Negotiated, AcceptNegotiationError> {
        match self.answer_request(request, started, Features::empty()) {
            Answer::Refuse(error, refused) => {
                self.send_control(error, deadline)?;
                Err(refused)
            }
            Answer::Plain(ack, negotiated) => {
                self.send_control(ack, deadline)?;
                Ok(negotiated)
            }
            Answer::Handshake(handshake, negotiated) => {
                self.drive_handshake(handshake, deadline)?;
                Ok(Negotiated {
                    elapsed: started.elapsed(),
                    ..negotiated
                })
            }
        }
    }

    /// The acceptor's answer to the peer's `request`, offering what this
    /// side speaks but the features in `withheld` (the async link's own
    /// send path does not honour them all). An accepted negotiation
    /// without Encryption is recorded before the ack leaves: the peer may
    /// send at once; with Encryption the handshake records it.
    pub(crate) fn answer_request(
        &self,
        request: &ProtoNegotiate,
        started: Instant,
        withheld: Features,
    ) -> Answer {
        let own = ProtocolOffer {
            features: self.config.offer.features.difference(withheld),
            ..self.config.offer
        };
        let refuse = |code, refused| Answer::Refuse(Error { context: 0, code }.encode(), refused);
        let ack = match accept(&own, request) {
            Ok(ack) => ack,
            Err(refused) => {
                let outcome = AcceptNegotiationError::MajorMismatch(request.version);
                return refuse(refused.error_code(), outcome);
            }
        };
        if self.refuses_plain(ack.features) {
            return refuse(ErrorCode::InvalidOp, HandshakeError::NotGranted.into());
        }
        let negotiated = Negotiated {
            version: ack.version,
            features: ack.features,
            capabilities: ack.capabilities,
            elapsed: started.elapsed(),
        };
        if ack.features.contains(Features::ENCRYPTION) {
            return match EncryptionHandshake::respond(self, &negotiated, ack.encode()) {
                Ok(handshake) => Answer::Handshake(handshake, negotiated),
                // Answered as a failed step would be.
                Err(e) => refuse(ErrorCode::HandshakeFailed, e.into()),
            };
        }
        self.set_negotiated(&mut lock(&self.state), negotiated);
        Answer::Plain(ack.encode(), negotiated)
    }

    fn set_negotiated(&self, state: &mut NegotiationState, negotiated: Negotiated) {
        *state = NegotiationState::Negotiated(negotiated);
        if negotiated.features.contains(Features::FLOW_CONTROL) {
            let flow = self.config.flow_control.unwrap_or_default();
            lock(&self.inbox).flow = Some(Flow::new(flow));
        }
        let bits = negotiated.features.bits() | NEGOTIATED;
        self.features.store(bits, Ordering::Release);
    }

    /// Whether this side requires Encryption and `features` lack it.
    pub(crate) fn refuses_plain(&self, features: Features) -> bool {
        self.config.encryption.is_some_and(|e| e.required)
            && !features.contains(Features::ENCRYPTION)
    }

    /// Installs this side's sending key (once, before the link is marked
    /// negotiated).
    pub(super) fn install_sealer(&self, sealer: Sealer) {
        // A link negotiates once, so the cell is empty.
        let _ = self.sealer.set(sealer);
    }

    /// The cipher that seals this link's messages, once Encryption was
    /// negotiated and the handshake agreed on one (`None`: a plain link).
    pub fn cipher(&self) -> Option<Cipher> {
        self.sealer().map(Sealer::cipher)
    }

    /// The sealer, once Encryption was negotiated (one atomic load).
    pub(super) fn sealer(&self) -> Option<&Sealer> {
        let bits = self.features.load(Ordering::Acquire);
        if bits & Features::ENCRYPTION.bits() == 0 {
            return None;
        }
        self.sealer.get()
    }

    /// Marks the link negotiated with `negotiated` (the handshake sets it
    /// before its last message leaves).
    pub(super) fn mark_negotiated(&self, negotiated: Negotiated) {
        self.set_negotiated(&mut lock(&self.state), negotiated);
    }

    /// Whether Compression was negotiated (one atomic load).
    pub(super) fn compression_granted(&self) -> bool {
        self.granted(Features::COMPRESSION)
    }

    /// Whether `feature` was negotiated (one atomic load).
    pub(crate) fn granted(&self, feature: Features) -> bool {
        self.features.load(Ordering::Acquire) & feature.bits() != 0
    }

    pub(crate) fn require(
        &self,
        feature: Option<(Features, &'static str)>,
    ) -> Result<(), AdvancedStateError> {
        let bits = self.features.load(Ordering::Acquire);
        if bits & NEGOTIATED == 0 {
            return Err(AdvancedStateError::NotNegotiated);
        }
        if let Some((feature, name)) = feature {
            if !Features::from_bits_truncate(bits).contains(feature) {
                return Err(AdvancedStateError::FeatureNotNegotiated(name));
            }
        }
        Ok(())
    }

    /// Starts accepting connections (ConnCreate from the peer).
    pub fn listen(&self) -> Result<(), AdvancedStateError> {
        self.require(None)?;
        lock(&self.inbox).connections.listen();
        Ok(())
    }

    /// Waits for the peer to open a connection, accepts it and returns its id.
    pub fn accept(&self) -> Result<u64, AcceptError> {
        self.accept_within(Wait::Until(self.deadline()))
    }

    /// [`accept`](Self::accept) with a deadline.
    pub fn accept_until(&self, deadline: Instant) -> Result<u64, AcceptError> {
        self.accept_within(Wait::Until(deadline))
    }

    /// [`accept`](Self::accept) without waiting: receives what has arrived
    /// (a bounded amount) and accepts a connection if one is waiting, else
    /// `Transport(TimedOut)`.
    pub fn try_accept(&self) -> Result<u64, AcceptError> {
        self.accept_within(Wait::Now)
    }

    fn accept_within(&self, wait: Wait) -> Result<u64, AcceptError> {
        self.require(None)?;
        let id = self.wait_for(wait, |inbox| inbox.connections.take_incoming())?;
        let accept = ConnAccept { connection: id }.encode();
        if let Err(e) = self.send_control(accept, wait.instant()) {
            self.accept_failed(id);
            return Err(e.into());
        }
        Ok(id)
    }

    /// The ConnAccept of connection `id` could not be sent: the peer never
    /// hears of it, so it is not open here either.
    pub(crate) fn accept_failed(&self, id: u64) {
        let mut inbox = lock(&self.inbox);
        inbox.connections.close(id);
        inbox.local_closed(id);
    }

    /// Opens a connection to the peer (which must listen) and returns its id.
    pub fn dial(&self) -> Result<u64, DialError> {
        self.dial_until(self.deadline())
    }

    /// [`dial`](Self::dial) with a deadline.
    pub fn dial_until(&self, deadline: Instant) -> Result<u64, DialError> {
        let (id, create) = self.start_dial()?;
        let outcome = self.send_control(create, deadline).and_then(|()| {
            self.wait_for(Wait::Until(deadline), |inbox| {
                inbox.connections.take_dial(id)
            })
        });
        match outcome {
            Ok(Ok(())) => Ok(id),
            Ok(Err(failure)) => Err(failure.into()),
            Err(e) => {
                self.cancel_dial(id);
                Err(e.into())
            }
        }
    }

    /// A fresh dial: its connection id and the ConnCreate that opens it.
    pub(crate) fn start_dial(&self) -> Result<(u64, Packet), AdvancedStateError> {
        self.require(None)?;
        let id = lock(&self.inbox).connections.start_dial();
        let create = ConnCreate {
            connection: id,
            stream_flags: 0,
        };
        Ok((id, create.encode()))
    }

    /// Gives up the dial of connection `id` (its caller stopped waiting).
    pub(crate) fn cancel_dial(&self, id: u64) {
        lock(&self.inbox).connections.cancel_dial(id);
    }

    /// Closes connection `id`: tells the peer and fails the calls pending on it.
    pub fn close(&self, id: u64) -> Result<(), CloseError> {
        self.close_until(id, self.deadline())
    }

    /// [`close`](Self::close) with a deadline for telling the peer.
    pub fn close_until(&self, id: u64, deadline: Instant) -> Result<(), CloseError> {
        if let Some(notice) = self.close_here(id)? {
            self.send_control(notice, deadline)?;
        }
        Ok(())
    }

    /// Closes connection `id` on this side (its calls fail, its waiters
    /// wake) and returns the ConnClose to tell the peer (`None` if the
    /// peer closed it first).
    pub(crate) fn close_here(&self, id: u64) -> Result<Option<Packet>, CloseError> {
        self.require(None)?;
        self.counters.connection_closed(id);
        self.scheduler.forget(id);
        let mut inbox = lock(&self.inbox);
        let was_open = inbox.connections.close(id);
        let peer_closed = inbox.closed_by_peer.remove(&id);
        inbox.local_closed(id);
        if !was_open && !peer_closed {
            return Err(CloseError::NotConnected(id));
        }
        // Callers on this connection see its calls fail.
        self.arrived.notify_all();
        let notice = ConnClose {
            connection: id,
            reason: 0,
        };
        Ok((!peer_closed).then(|| notice.encode()))
    }

    /// Whether `connection` is open (0 always is).
    pub fn is_open(&self, connection: u64) -> bool {
        lock(&self.inbox).connections.is_open(connection)
    }

    /// Whether the peer closed `connection` (and this side has not closed
    /// it yet).
    pub fn closed_by_peer(&self, connection: u64) -> bool {
        lock(&self.inbox).closed_by_peer.contains(&connection)
    }

    /// A fresh message id.
    pub(super) fn next_message_id(&self) -> u64 {
        self.next_message.fetch_add(1, Ordering::Relaxed)
    }
}

impl AdvancedLink<StandardLink> {
    /// Creates the named segment and an Advanced link on it
    /// ([`StandardLink::create`]). Refused if another live process already
    /// uses the primary side (see [`endpoint`](super::endpoint)).
    pub fn create(
        name: &str,
        link: &LinkConfig,
        config: AdvancedConfig,
    ) -> Result<Self, AdvancedOpenError> {
        let link = StandardLink::create(name, link)?;
        check_sole_endpoint(&link)?;
        Ok(Self::new(link, config))
    }

    /// Opens the named segment and an Advanced link on it
    /// ([`StandardLink::open`]). Refused with
    /// [`AdvancedOpenError::SideInUse`] if another live process already
    /// uses this side: an Advanced link needs its side to itself (see
    /// [`endpoint`](super::endpoint)).
    pub fn open(
        name: &str,
        link: &LinkConfig,
        config: AdvancedConfig,
    ) -> Result<Self, AdvancedOpenError> {
        let link = StandardLink::open(name, link)?;
        check_sole_endpoint(&link)?;
        Ok(Self::new(link, config))
    }

    /// Two ends of one Advanced link on an anonymous segment:
    /// `(primary, secondary)` ([`StandardLink::pair`]).
    pub fn pair(
        link: &LinkConfig,
        config: AdvancedConfig,
    ) -> Result<(Self, Self), AdvancedOpenError> {
        let (primary, secondary) = StandardLink::pair(link)?;
        Ok((Self::new(primary, config), Self::new(secondary, config)))
    }
}

impl<T: PacketTransport> Drop for AdvancedLink<T> {
    /// Tells the peer that every open connection closes (one attempt per
    /// connection: a full ring drops the notice), and sends queued replies
    /// the same way.
    fn drop(&mut self) {
        let open = lock(&self.inbox).connections.take_open();
        let now = Some(Instant::now());
        for connection in open {
            let close = ConnClose {
                connection,
                reason: 0,
            };
            if self
                .transport
                .send_packet(now, |_, _| close.encode())
                .is_err()
            {
                break;
            }
        }
        self.flush_replies();
    }
}
