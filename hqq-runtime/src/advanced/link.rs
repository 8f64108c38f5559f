//! The Advanced link: negotiation, logical connections, chunked large
//! messages and request-response over a link's rings and buffers.
//!
//! # Receive path
//!
//! There is no receiver thread. Every blocking call waits for one thing in
//! the [`Inbox`] (an ack, a dial outcome, a message of its connection, a
//! request, the response to its call). While it waits, the thread that
//! holds the *pump* lock receives packets from the ring and routes each one
//! into the inbox; the others sleep on a condition variable that the pump
//! signals after every batch. When the pumping thread finds what it waits
//! for, it hands the pump over (releases the lock and wakes the others).
//! So a lone caller receives its own response with no thread hop, and
//! concurrent callers and receivers never take each other's frames: a frame
//! goes to the queue of whoever it is for, whichever thread received it.
//!
//! Every blocking call has a deadline ([`AdvancedConfig::timeout`]).

use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::advanced::calls::{CallKey, Response};
use crate::advanced::chunking::{MessageHeader, MessageKind};
use crate::advanced::error::{
    AcceptError, AcceptNegotiationError, AdvancedStateError, CallError, CloseError, DialError,
    NegotiateError, RecvLargeError, RecvRequestError, RespondError, SendLargeError,
};
use crate::advanced::inbox::{Inbox, IncomingRequest, StreamEvent};
use crate::advanced::negotiation::{
    accept, check_ack, Negotiated, NegotiationState, ProtocolOffer,
};
use crate::advanced::reassembly::ReassemblyLimits;
use crate::advanced::stats::{AdvancedCounters, AdvancedStats};
use crate::advanced::transport::{PacketTransport, TransportError};
use crate::codec::{Limits, PacketCodec};
use crate::link::{instant_after, LinkConfig, LinkOpenError, StandardLink};
use crate::packet::Packet;
use crate::protocol::{
    ConnAccept, ConnClose, ConnCreate, Error, ErrorCode, OpCode, ProtoNegotiate,
};

/// How an Advanced link behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvancedConfig {
    /// What this side speaks when it negotiates or accepts a negotiation.
    pub offer: ProtocolOffer,
    /// Deadline of every blocking call (default 10 s).
    pub timeout: Duration,
    /// Bounds on messages being received.
    pub reassembly: ReassemblyLimits,
}

impl Default for AdvancedConfig {
    fn default() -> Self {
        AdvancedConfig {
            offer: ProtocolOffer::default(),
            timeout: Duration::from_secs(10),
            reassembly: ReassemblyLimits::default(),
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

/// An Advanced link over a [`PacketTransport`] (a [`StandardLink`]'s rings
/// and buffers).
///
/// `Send + Sync`: share it between threads by reference or `Arc`.
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
pub struct AdvancedLink {
    transport: Box<dyn PacketTransport>,
    config: AdvancedConfig,
    limits: Limits,
    state: Mutex<NegotiationState>,
    inbox: Mutex<Inbox>,
    arrived: Condvar,
    /// Threads waiting on `arrived` (changed under the `inbox` lock), so
    /// that the pump makes a wake-up system call only when someone sleeps.
    sleepers: AtomicUsize,
    pump: Mutex<()>,
    next_message: AtomicU64,
    counters: AdvancedCounters,
}

/// Longest a thread blocks in the transport or on the condition variable
/// before it looks at its deadline and the pump again.
const WAIT_SLICE: Duration = Duration::from_millis(20);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AdvancedLink {
    /// An Advanced link over `transport` with `config`. It must negotiate
    /// before any other Advanced call.
    pub fn new(transport: impl PacketTransport + 'static, config: AdvancedConfig) -> Self {
        let limits = Limits {
            buffer_size: transport.buffer_size() as u64,
            slot_count: transport.slots(),
            max_message_size: config.reassembly.max_message_size,
        };
        AdvancedLink {
            inbox: Mutex::new(Inbox::new(limits, config.reassembly)),
            transport: Box::new(transport),
            config,
            limits,
            state: Mutex::new(NegotiationState::NotNegotiated),
            arrived: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            pump: Mutex::new(()),
            next_message: AtomicU64::new(1),
            counters: AdvancedCounters::default(),
        }
    }

    /// Creates the named segment and an Advanced link on it
    /// ([`StandardLink::create`]).
    pub fn create(
        name: &str,
        link: &LinkConfig,
        config: AdvancedConfig,
    ) -> Result<Self, LinkOpenError> {
        Ok(Self::new(StandardLink::create(name, link)?, config))
    }

    /// Opens the named segment and an Advanced link on it
    /// ([`StandardLink::open`]).
    pub fn open(
        name: &str,
        link: &LinkConfig,
        config: AdvancedConfig,
    ) -> Result<Self, LinkOpenError> {
        Ok(Self::new(StandardLink::open(name, link)?, config))
    }

    /// Two ends of one Advanced link on an anonymous segment:
    /// `(primary, secondary)` ([`StandardLink::pair`]).
    pub fn pair(link: &LinkConfig, config: AdvancedConfig) -> Result<(Self, Self), LinkOpenError> {
        let (primary, secondary) = StandardLink::pair(link)?;
        Ok((Self::new(primary, config), Self::new(secondary, config)))
    }

    /// The configuration.
    pub fn config(&self) -> &AdvancedConfig {
        &self.config
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
        self.counters.snapshot()
    }

    fn deadline(&self) -> Instant {
        instant_after(self.config.timeout)
    }

    /// Starts the negotiation; `false` if one already ran.
    fn start_negotiation(&self) -> bool {
        lock(&self.state).start().is_ok()
    }

    fn finish_negotiation<E>(&self, outcome: Result<Negotiated, E>) -> Result<Negotiated, E> {
        let mut state = lock(&self.state);
        match outcome {
            Ok(negotiated) => {
                *state = NegotiationState::Negotiated(negotiated);
                self.counters.negotiated(negotiated.elapsed);
            }
            Err(_) => {
                *state = NegotiationState::Failed;
                self.counters.error();
            }
        }
        outcome
    }

    /// Initiates the negotiation with `offer` (version, requested features,
    /// offered capabilities) and waits for the peer's answer.
    pub fn negotiate(&self, offer: ProtocolOffer) -> Result<Negotiated, NegotiateError> {
        if !self.start_negotiation() {
            return Err(NegotiateError::AlreadyNegotiated);
        }
        let started = Instant::now();
        lock(&self.inbox).awaiting_ack = true;
        let outcome = self
            .send_control(offer.request().encode())
            .map_err(NegotiateError::from)
            .and_then(|()| {
                self.wait_for(self.deadline(), |inbox| {
                    let answer = inbox.negotiate_answer.take()?;
                    inbox.awaiting_ack = false;
                    Some(answer)
                })
                .map_err(NegotiateError::from)
            })
            .and_then(|answer| {
                if answer.opcode() == OpCode::Error.code() {
                    let code = Error::decode(&answer)
                        .map(|e| e.code)
                        .unwrap_or(ErrorCode::InvalidOp);
                    return Err(NegotiateError::Refused(code));
                }
                let (version, features, capabilities) = check_ack(&offer, &answer)?;
                Ok(Negotiated {
                    version,
                    features,
                    capabilities,
                    elapsed: started.elapsed(),
                })
            });
        self.finish_negotiation(outcome)
    }

    /// Waits for the peer's ProtoNegotiate and answers it with what this
    /// side speaks ([`AdvancedConfig::offer`]); a different major version
    /// is refused with `Error(InvalidOp)`.
    pub fn wait_for_negotiation(&self) -> Result<Negotiated, AcceptNegotiationError> {
        if !self.start_negotiation() {
            return Err(AcceptNegotiationError::AlreadyNegotiated);
        }
        let started = Instant::now();
        let outcome = self
            .wait_for(self.deadline(), |inbox| inbox.negotiate_request.take())
            .map_err(AcceptNegotiationError::from)
            .and_then(|packet| {
                // The inbox keeps only ProtoNegotiate packets that decode.
                let request = ProtoNegotiate::decode(&packet)
                    .map_err(|_| AcceptNegotiationError::Transport(TransportError::Corrupt))?;
                match accept(&self.config.offer, &request) {
                    Ok(ack) => {
                        let negotiated = Negotiated {
                            version: ack.version,
                            features: ack.features,
                            capabilities: ack.capabilities,
                            elapsed: started.elapsed(),
                        };
                        // Negotiated before the ack leaves: the peer may
                        // send at once.
                        *lock(&self.state) = NegotiationState::Negotiated(negotiated);
                        self.send_control(ack.encode())?;
                        Ok(negotiated)
                    }
                    Err(refused) => {
                        let error = Error {
                            context: 0,
                            code: refused.error_code(),
                        };
                        self.send_control(error.encode())?;
                        Err(AcceptNegotiationError::MajorMismatch(request.version))
                    }
                }
            });
        self.finish_negotiation(outcome)
    }

    fn require(
        &self,
        feature: Option<(crate::protocol::Features, &'static str)>,
    ) -> Result<(), AdvancedStateError> {
        let negotiated = self.negotiated().ok_or(AdvancedStateError::NotNegotiated)?;
        if let Some((feature, name)) = feature {
            if !negotiated.features.contains(feature) {
                return Err(AdvancedStateError::FeatureNotNegotiated(name));
            }
        }
        Ok(())
    }

    fn send_control(&self, packet: Packet) -> Result<(), TransportError> {
        self.transport
            .send_packet(Some(self.deadline()), &mut |_, _| packet)
    }

    /// Waits until `take` finds what it wants in the inbox, pumping the
    /// receive side when no other thread does (see the module docs).
    fn wait_for<T>(
        &self,
        deadline: Instant,
        mut take: impl FnMut(&mut Inbox) -> Option<T>,
    ) -> Result<T, TransportError> {
        loop {
            if let Some(found) = take(&mut lock(&self.inbox)) {
                return Ok(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TransportError::TimedOut);
            }
            let slice = deadline.min(now + WAIT_SLICE);
            match self.pump.try_lock() {
                Ok(pump) => {
                    let pumped = self.pump_once(slice);
                    drop(pump);
                    // Wake the others: to take what was routed, or to pump.
                    self.wake_sleepers();
                    match pumped {
                        Ok(()) | Err(TransportError::TimedOut) => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(_) => {
                    let mut inbox = lock(&self.inbox);
                    if let Some(found) = take(&mut inbox) {
                        return Ok(found);
                    }
                    let wait = slice.saturating_duration_since(Instant::now());
                    // Counted under the inbox lock, which the pump takes to
                    // route: a pump that routes after we checked sees us.
                    self.sleepers.fetch_add(1, Ordering::Relaxed);
                    let (inbox, _) = self
                        .arrived
                        .wait_timeout(inbox, wait)
                        .unwrap_or_else(PoisonError::into_inner);
                    self.sleepers.fetch_sub(1, Ordering::Relaxed);
                    drop(inbox);
                }
            }
        }
    }

    /// Wakes the threads waiting on `arrived`, if there are any (a lone
    /// caller pays no system call).
    fn wake_sleepers(&self) {
        // Relaxed: sleepers count themselves under the inbox lock, and every
        // caller took that lock after changing what sleepers wait for.
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.arrived.notify_all();
        }
    }

    /// Receives one packet (waiting until `deadline`) and routes it.
    fn pump_once(&self, deadline: Instant) -> Result<(), TransportError> {
        let mut reply = None;
        self.transport
            .recv_packet(Some(deadline), &mut |packet, payload| {
                let (answer, routed) = lock(&self.inbox).route(&packet, payload);
                reply = answer;
                match routed {
                    Ok(routed) => {
                        if routed.chunk {
                            self.counters.chunk_received();
                        }
                        if routed.aborted {
                            self.counters.abort();
                        }
                        if routed.peer_error {
                            self.counters.peer_error();
                        }
                        if let Some(bytes) = routed.completed {
                            self.counters.message_received(bytes);
                        }
                    }
                    Err(_) => self.counters.error(),
                }
            })?;
        if let Some(reply) = reply {
            // Best effort: a peer that does not drain its ring loses the answer.
            if self.send_control(reply).is_err() {
                self.counters.error();
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
        self.require(None)?;
        let id = self.wait_for(self.deadline(), |inbox| inbox.connections.take_incoming())?;
        self.send_control(ConnAccept { connection: id }.encode())?;
        Ok(id)
    }

    /// Opens a connection to the peer (which must listen) and returns its id.
    pub fn dial(&self) -> Result<u64, DialError> {
        self.require(None)?;
        let id = lock(&self.inbox).connections.start_dial();
        let create = ConnCreate {
            connection: id,
            stream_flags: 0,
        };
        let outcome = self
            .send_control(create.encode())
            .and_then(|()| self.wait_for(self.deadline(), |inbox| inbox.connections.take_dial(id)));
        match outcome {
            Ok(Ok(())) => Ok(id),
            Ok(Err(failure)) => Err(failure.into()),
            Err(e) => {
                lock(&self.inbox).connections.cancel_dial(id);
                Err(e.into())
            }
        }
    }

    /// Closes connection `id`: tells the peer and fails the calls pending on it.
    pub fn close(&self, id: u64) -> Result<(), CloseError> {
        self.require(None)?;
        {
            let mut inbox = lock(&self.inbox);
            let was_open = inbox.connections.close(id);
            let peer_closed = inbox.closed_by_peer.remove(&id);
            inbox.local_closed(id);
            if !was_open && !peer_closed {
                return Err(CloseError::NotConnected(id));
            }
            if peer_closed {
                return Ok(());
            }
        }
        self.wake_sleepers();
        self.send_control(
            ConnClose {
                connection: id,
                reason: 0,
            }
            .encode(),
        )?;
        Ok(())
    }

    fn is_open(&self, connection: u64) -> bool {
        lock(&self.inbox).connections.is_open(connection)
    }

    /// `Err((size, bound))` if a message of `total` bytes is above the bound.
    fn check_size(&self, total: u64) -> Result<(), (u64, u64)> {
        let max = self.config.reassembly.max_message_size;
        if total > max {
            Err((total, max))
        } else {
            Ok(())
        }
    }

    fn next_message_id(&self) -> u64 {
        self.next_message.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `total` bytes from `source` as one message with `header` (its
    /// size already checked). On a short or failing source the message is
    /// aborted and the result is `Ok(Some(bytes sent before))`; a slice of
    /// exactly `total` bytes never fails.
    fn send_message(
        &self,
        header: MessageHeader,
        total: u64,
        source: &mut dyn Read,
        deadline: Instant,
    ) -> Result<Option<u64>, TransportError> {
        let mut sent = 0u64;
        for chunk in header.chunks(total, self.limits.buffer_size) {
            let mut failed = false;
            self.transport
                .send_packet(Some(deadline), &mut |_, buffer| {
                    let size = chunk.size as usize;
                    match buffer.get_mut(..size).map(|b| source.read_exact(b)) {
                        Some(Ok(())) => chunk.encode(),
                        _ => {
                            failed = true;
                            header.abort().encode()
                        }
                    }
                })?;
            if failed {
                self.counters.abort();
                return Ok(Some(sent));
            }
            sent += chunk.size;
            self.counters.chunk_sent();
        }
        self.counters.message_sent(total);
        Ok(None)
    }

    /// Sends `data` as one message on `connection` (0 = the link itself),
    /// split into chunks of at most one buffer. Returns the message id.
    pub fn send_large(&self, connection: u64, data: &[u8]) -> Result<u64, SendLargeError> {
        let mut source = data;
        self.send_large_from(connection, &mut source, data.len() as u64)
    }

    /// Sends `total` bytes read from `source` as one message on
    /// `connection`, one buffer at a time (the message never sits whole in
    /// memory). A source that fails or ends early aborts the message.
    pub fn send_large_from(
        &self,
        connection: u64,
        source: &mut dyn Read,
        total: u64,
    ) -> Result<u64, SendLargeError> {
        self.require(Some((crate::protocol::Features::LARGE_COPY, "LargeCopy")))?;
        if !self.is_open(connection) {
            return Err(SendLargeError::NotConnected(connection));
        }
        self.check_size(total)
            .map_err(|(size, max)| SendLargeError::TooLarge { size, max })?;
        let message = self.next_message_id();
        let header = MessageHeader {
            connection,
            message,
            kind: MessageKind::Plain,
            error: false,
            method_or_status: 0,
        };
        match self.send_message(header, total, source, self.deadline())? {
            None => Ok(message),
            Some(sent) => Err(SendLargeError::SourceFailed { sent, total }),
        }
    }

    /// Waits for the next whole message on `connection`.
    pub fn recv_large(&self, connection: u64) -> Result<ReceivedMessage, RecvLargeError> {
        self.require(Some((crate::protocol::Features::LARGE_COPY, "LargeCopy")))?;
        if !self.is_open(connection) {
            return Err(RecvLargeError::NotConnected(connection));
        }
        let message = self.wait_for(self.deadline(), |inbox| inbox.take_message(connection))?;
        Ok(ReceivedMessage {
            message: message.key.message,
            data: message.data,
        })
    }

    /// Switches `connection` to streaming receive: its plain messages are
    /// no longer assembled but handed out chunk by chunk by
    /// [`AdvancedLink::recv_stream`].
    pub fn set_streaming(&self, connection: u64, streaming: bool) {
        lock(&self.inbox).set_streamed(connection, streaming);
    }

    /// Receives the next message on a streaming `connection`, calling
    /// `sink(offset, chunk)` for each chunk as it arrives. Returns the
    /// message id and total. Nothing grows with the message size.
    pub fn recv_stream(
        &self,
        connection: u64,
        sink: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<(u64, u64), RecvLargeError> {
        self.require(Some((crate::protocol::Features::LARGE_COPY, "LargeCopy")))?;
        if !self.is_open(connection) {
            return Err(RecvLargeError::NotConnected(connection));
        }
        let deadline = self.deadline();
        loop {
            match self.wait_for(deadline, |inbox| inbox.take_stream_event(connection))? {
                StreamEvent::Chunk {
                    message,
                    offset,
                    total,
                    data,
                    last,
                } => {
                    sink(offset, &data);
                    if last {
                        return Ok((message, total));
                    }
                }
                StreamEvent::Aborted { message } => return Err(RecvLargeError::Aborted(message)),
            }
        }
    }

    /// Calls `method` on the link itself (connection 0) with `request` and
    /// waits for the response.
    pub fn call(&self, method: u64, request: &[u8]) -> Result<Response, CallError> {
        self.call_on(0, method, request)
    }

    /// Calls `method` on `connection` with `request` and waits for the
    /// response. Any number of threads may call at once; responses are
    /// routed by (connection, message id) in whatever order they come.
    pub fn call_on(
        &self,
        connection: u64,
        method: u64,
        request: &[u8],
    ) -> Result<Response, CallError> {
        self.require(Some((
            crate::protocol::Features::REQUEST_RESPONSE,
            "RequestResponse",
        )))?;
        if !self.is_open(connection) {
            return Err(CallError::NotConnected(connection));
        }
        self.check_size(request.len() as u64)
            .map_err(|(size, max)| CallError::TooLarge { size, max })?;
        let message = self.next_message_id();
        let key = CallKey {
            connection,
            message,
        };
        {
            let mut inbox = lock(&self.inbox);
            inbox.calls.register(key);
            self.counters.pending_calls(inbox.calls.len());
        }
        let header = MessageHeader {
            connection,
            message,
            kind: MessageKind::Request,
            error: false,
            method_or_status: method,
        };
        let mut source = request;
        // One deadline for the whole call: each clock read costs about as
        // much as a cache-line transfer.
        let deadline = self.deadline();
        let outcome = self
            .send_message(header, request.len() as u64, &mut source, deadline)
            .and_then(|_| self.wait_for(deadline, |inbox| inbox.calls.take(key)));
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(failure)) => Err(failure.into()),
            Err(e) => {
                lock(&self.inbox).calls.cancel(key);
                Err(e.into())
            }
        }
    }

    /// Waits for the next request (on any connection) to serve.
    pub fn recv_request(&self) -> Result<Request, RecvRequestError> {
        self.recv_request_timeout(self.config.timeout)
    }

    /// Waits at most `timeout` for the next request to serve.
    pub fn recv_request_timeout(&self, timeout: Duration) -> Result<Request, RecvRequestError> {
        self.require(Some((
            crate::protocol::Features::REQUEST_RESPONSE,
            "RequestResponse",
        )))?;
        Ok(self.wait_for(instant_after(timeout), |inbox| inbox.requests.pop_front())?)
    }

    /// Answers `request` with `response` and status 0.
    pub fn respond(&self, request: &Request, response: &[u8]) -> Result<(), RespondError> {
        self.respond_with(request, 0, false, response)
    }

    /// Answers `request` with an error response carrying `status` (non-zero
    /// by convention) and `detail` bytes.
    pub fn respond_error(
        &self,
        request: &Request,
        status: u64,
        detail: &[u8],
    ) -> Result<(), RespondError> {
        self.respond_with(request, status, true, detail)
    }

    fn respond_with(
        &self,
        request: &Request,
        status: u64,
        error: bool,
        data: &[u8],
    ) -> Result<(), RespondError> {
        self.require(Some((
            crate::protocol::Features::REQUEST_RESPONSE,
            "RequestResponse",
        )))?;
        self.check_size(data.len() as u64)
            .map_err(|(size, max)| RespondError::TooLarge { size, max })?;
        let header = MessageHeader {
            connection: request.connection,
            message: request.message,
            kind: MessageKind::Response,
            error,
            method_or_status: status,
        };
        let mut source = data;
        self.send_message(header, data.len() as u64, &mut source, self.deadline())?;
        Ok(())
    }
}
