//! The Advanced link's inbox: every received packet routed to the queue or
//! table its taker waits on.
//!
//! [`Inbox::route`] is the whole receive-side protocol logic and touches no
//! shared memory: the link hands it each packet with its payload, which it
//! copies into budgeted buffers. Replies it owes the peer (Error packets)
//! go to a bounded queue that the link flushes without blocking. Waiting
//! threads take what is theirs (a negotiation request, an ack, a dial
//! outcome, a message of a connection, a request, a response to their
//! call), so concurrent receivers never take each other's frames.

use std::collections::VecDeque;
use std::time::Instant;

use crate::advanced::budget::{Account, Budget, ReceiveBudget, ENTRY_BYTES};
use crate::advanced::calls::{
    CallFailure, CallKey, PendingCalls, Response, UnexpectedResponseError,
};
use crate::advanced::chunking::MessageKind;
use crate::advanced::compression::{decompress_message, DecompressError, FrameDecoder};
use crate::advanced::connections::{ConnectionCreateError, Connections, UnknownDialError};
use crate::advanced::encryption::{MessageOpener, OpenError, Opener};
use crate::advanced::flow::{CreditError, CreditOverrun, Flow};
use crate::advanced::handoff::HandOff;
use crate::advanced::idmap::{IdMap, IdSet};
use crate::advanced::reassembly::{
    Assembled, AssembledMessage, MessageKey, Reassembler, ReassemblyError, ReassemblyLimits,
    Sequenced, Sequencer,
};
use crate::advanced::tasks::TaskWaiters;
use crate::codec::{DecodeError, Limits, PacketCodec, Violation};
use crate::packet::Packet;
use crate::payload_view::PayloadView;
use crate::protocol::{
    ConnAccept, ConnClose, ConnCopy, ConnCreate, ConnCredit, Error, ErrorCode, FrameFlags, Message,
};

mod sealed;

use crate::advanced::encryption::HandshakeError;
pub(crate) use sealed::{HandshakeDone, PendingHandshake};

/// Why a received packet was refused. Each is counted in the link's
/// statistics; the packet's partial state (if any) is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub(crate) enum InboundError {
    /// Not a valid packet (unknown opcode or flag bits, Request with
    /// Response, Error without Response, a chunk past its total, ...).
    #[error("invalid packet: {0}")]
    Decode(#[from] DecodeError),
    /// The packet breaks a limit of this link (chunk larger than a buffer, ...).
    #[error("packet breaks a link limit: {0}")]
    Limit(#[from] Violation),
    /// A chunk breaks the message rules.
    #[error(transparent)]
    Reassembly(#[from] ReassemblyError),
    /// A response for a call nobody made.
    #[error(transparent)]
    UnexpectedResponse(#[from] UnexpectedResponseError),
    /// A ConnAccept for a connection nobody dialed.
    #[error(transparent)]
    UnknownDial(#[from] UnknownDialError),
    /// A ConnCreate this side refused (answered with an Error packet).
    #[error(transparent)]
    ConnectionRefused(#[from] ConnectionCreateError),
    /// A chunk or ConnClose for a connection that is not open.
    #[error("connection {0} is not open")]
    UnknownConnection(u64),
    /// A negotiation packet out of turn (a second ProtoNegotiate, an
    /// unrequested ProtoAck) or a packet the Advanced link does not take.
    #[error("unexpected {0} packet")]
    Unexpected(&'static str),
    /// A compressed message that does not decompress within the limits.
    #[error("compressed message refused: {0}")]
    Decompress(#[from] DecompressError),
    /// A ConnCredit this side refuses (answered with `Error(InvalidOp)`).
    #[error(transparent)]
    Credit(#[from] CreditError),
    /// A chunk past the credit this side granted (answered with
    /// `Error(BufferOverflow)` and dropped).
    #[error(transparent)]
    CreditOverrun(#[from] CreditOverrun),
    /// An encrypted message that does not open (or a plain one on an
    /// encrypted link).
    #[error("encrypted message refused: {0}")]
    Open(#[from] OpenError),
}

/// A request waiting for the application to serve it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IncomingRequest {
    /// Connection the request came on (0 = link-level).
    pub connection: u64,
    /// The request's message id; the response carries it back.
    pub message: u64,
    /// Method id from the request's first chunk.
    pub method: u64,
    /// The request's bytes.
    pub data: Vec<u8>,
}

/// A piece of a plain message, as the streaming receive hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum StreamEvent {
    /// The next chunk of message `message`.
    Chunk {
        /// The sender's message id.
        message: u64,
        /// Offset of the chunk in the message.
        offset: u64,
        /// The message's total size.
        total: u64,
        /// The chunk's bytes.
        data: Vec<u8>,
        /// This is the message's last chunk.
        last: bool,
    },
    /// Message `message` was aborted; drop what arrived of it.
    Aborted {
        /// The sender's message id.
        message: u64,
    },
}

/// What routing one packet did, for the link to act on and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Routed {
    /// The packet was a ConnCopy chunk.
    pub(crate) chunk: bool,
    /// A message was aborted.
    pub(crate) aborted: bool,
    /// A whole message of this many bytes arrived (or, streamed, its last chunk).
    pub(crate) completed: Option<u64>,
    /// The connection of the chunk (when it was one).
    pub(crate) connection: u64,
    /// The packet was an Error packet from the peer.
    pub(crate) peer_error: bool,
    /// Something a thread may wait for was delivered.
    pub(crate) delivered: bool,
}

type Reply = Result<Routed, InboundError>;

/// Most replies (Error packets) waiting to be sent; more are dropped and
/// counted, so a peer that never drains its ring costs bounded memory.
pub(crate) const MAX_QUEUED_REPLIES: usize = 64;

/// Receive-side events the link counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct InboxEvents {
    /// Messages refused because the receive budget was full.
    pub(crate) overflows: u64,
    /// Idle partial messages evicted.
    pub(crate) evicted: u64,
    /// Replies dropped because the reply queue was full.
    pub(crate) replies_dropped: u64,
    /// Bytes decompressed from compressed messages.
    pub(crate) decompressed_bytes: u64,
    /// Compressed messages refused.
    pub(crate) decompression_failures: u64,
    /// Nanoseconds spent decompressing.
    pub(crate) decompression_nanos: u64,
    /// Refused ConnCredit packets and chunks past the granted credit.
    pub(crate) credit_errors: u64,
    /// Plain bytes opened from encrypted messages.
    pub(crate) decrypted_bytes: u64,
    /// Nanoseconds spent opening encrypted messages.
    pub(crate) decryption_nanos: u64,
    /// Encrypted messages refused because they did not authenticate (or
    /// plain ones on an encrypted link).
    pub(crate) authentication_failures: u64,
    /// Encrypted messages refused as replays.
    pub(crate) replays_refused: u64,
}

/// A streamed chunk or event, what it holds of the budget and its bytes
/// as sent (what it holds of the flow-control window).
type HeldEvent = (StreamEvent, u64, u64);

/// Everything received and not yet taken, plus the receive-side state.
#[derive(Debug)]
pub(crate) struct Inbox {
    limits: Limits,
    budget: Budget,
    reassembler: Reassembler,
    sequencer: Sequencer,
    /// The peer's ProtoNegotiate, until the acceptor takes it.
    pub(crate) negotiate_request: Option<Packet>,
    /// Whether this side waits for the peer's ProtoAck.
    pub(crate) awaiting_ack: bool,
    /// The peer's answer to our ProtoNegotiate (ProtoAck or Error).
    pub(crate) negotiate_answer: Option<Packet>,
    /// Whether a negotiation request was already seen.
    pub(crate) negotiate_seen: bool,
    /// Connections.
    pub(crate) connections: Connections,
    /// Outstanding calls.
    pub(crate) calls: PendingCalls,
    /// Requests with their budget charge and their bytes as sent.
    requests: VecDeque<(IncomingRequest, u64, u64)>,
    messages: IdMap<u64, VecDeque<AssembledMessage>>,
    streamed: IdSet<u64>,
    streams: IdMap<u64, VecDeque<HeldEvent>>,
    /// Decoders of compressed streamed messages in progress (one per
    /// message the sequencer holds, so bounded by the partial limit).
    decoders: IdMap<MessageKey, FrameDecoder>,
    /// Whether Compression was negotiated (set by the pump before routing,
    /// or by the handshake); a compressed chunk before that is refused.
    pub(crate) compression_granted: bool,
    /// This side's half-done encryption handshake, until the peer's step
    /// arrives.
    pub(crate) handshake: Option<PendingHandshake>,
    /// The handshake's outcome, until the negotiating call takes it.
    pub(crate) handshake_outcome: Option<Result<HandshakeDone, HandshakeError>>,
    /// The receiving key, once the handshake keyed this side: from then on
    /// every message must be sealed.
    opener: Option<Opener>,
    /// Openers of encrypted streamed messages in progress (one per message
    /// the sequencer holds).
    openers: IdMap<MessageKey, MessageOpener>,
    /// Connections the peer closed, until their owners notice.
    pub(crate) closed_by_peer: IdSet<u64>,
    /// Replies owed to the peer, oldest first.
    pub(crate) replies: VecDeque<Packet>,
    /// Credit windows, once FlowControl was negotiated.
    pub(crate) flow: Option<Flow>,
    /// Who pumps and who sleeps.
    pub(crate) handoff: HandOff,
    /// The pumper just handed a High-priority item to a sleeping thread
    /// (QualityOfService): it yields the CPU before it pumps on.
    pub(crate) handed_high: bool,
    /// Threads waiting for an item of a High-priority connection
    /// (QualityOfService): while there are any, the others leave the pump
    /// to them.
    pub(crate) high_waiters: usize,
    /// Async tasks waiting for something in the inbox.
    pub(crate) tasks: TaskWaiters,
    /// Counted events since the link last took them.
    pub(crate) events: InboxEvents,
}

impl Inbox {
    /// An inbox for a link with `limits`; messages are bounded by
    /// `reassembly` and what they hold by `budget`; this side dials from
    /// `first_dial_id`.
    pub(crate) fn new(
        limits: Limits,
        reassembly: ReassemblyLimits,
        budget: ReceiveBudget,
        first_dial_id: u64,
    ) -> Self {
        let limits = Limits {
            max_message_size: reassembly.max_message_size,
            ..limits
        };
        Inbox {
            limits,
            budget: Budget::new(budget),
            reassembler: Reassembler::new(reassembly),
            sequencer: Sequencer::new(reassembly),
            negotiate_request: None,
            awaiting_ack: false,
            negotiate_answer: None,
            negotiate_seen: false,
            connections: Connections::new(Connections::BACKLOG, first_dial_id),
            calls: PendingCalls::default(),
            requests: VecDeque::new(),
            messages: IdMap::default(),
            streamed: IdSet::default(),
            streams: IdMap::default(),
            decoders: IdMap::default(),
            compression_granted: false,
            handed_high: false,
            high_waiters: 0,
            handshake: None,
            handshake_outcome: None,
            opener: None,
            openers: IdMap::default(),
            closed_by_peer: IdSet::default(),
            replies: VecDeque::new(),
            flow: None,
            handoff: HandOff::default(),
            tasks: TaskWaiters::default(),
            events: InboxEvents::default(),
        }
    }

    /// Bytes and items held of the receive budget.
    pub(crate) fn held(&self) -> (u64, usize) {
        (self.budget.bytes(), self.budget.entries())
    }

    /// Plain messages on `connection` go out as [`StreamEvent`]s (`true`)
    /// or whole (`false`, the default).
    pub(crate) fn set_streamed(&mut self, connection: u64, streamed: bool) {
        if streamed {
            self.streamed.insert(connection);
        } else {
            self.streamed.remove(&connection);
        }
    }

    /// The oldest whole plain message on `connection`.
    pub(crate) fn take_message(&mut self, connection: u64) -> Option<AssembledMessage> {
        let message = self.messages.get_mut(&connection)?.pop_front()?;
        self.budget.release(message.account(), message.charged, 1);
        self.consumed(connection, message.wire);
        Some(message)
    }

    /// The oldest stream event on `connection`.
    pub(crate) fn take_stream_event(&mut self, connection: u64) -> Option<StreamEvent> {
        let (event, charged, wire) = self.streams.get_mut(&connection)?.pop_front()?;
        let account = Account {
            connection,
            kind: MessageKind::Plain,
        };
        self.budget.release(account, charged, 1);
        self.consumed(connection, wire);
        Some(event)
    }

    /// The oldest request to serve (on `connection`, or on any).
    pub(crate) fn take_request(&mut self, connection: Option<u64>) -> Option<IncomingRequest> {
        let index = match connection {
            None => 0,
            Some(connection) => self
                .requests
                .iter()
                .position(|(request, _, _)| request.connection == connection)?,
        };
        let (request, charged, wire) = self.requests.remove(index)?;
        let account = Account {
            connection: request.connection,
            kind: MessageKind::Request,
        };
        self.budget.release(account, charged, 1);
        self.consumed(request.connection, wire);
        Some(request)
    }

    /// `bytes` (as sent) of `connection` were taken: their credit goes back.
    fn consumed(&mut self, connection: u64, bytes: u64) {
        if let Some(flow) = &mut self.flow {
            flow.receive.consumed(connection, bytes);
        }
    }

    /// `bytes` (as sent) of `connection` wait, whole, for the application.
    fn queued(&mut self, connection: u64, bytes: u64) {
        if let Some(flow) = &mut self.flow {
            flow.receive.queued(connection, bytes);
        }
    }

    /// Takes `bytes` of `connection`'s send credit, if it has them.
    pub(crate) fn reserve_credit(&mut self, connection: u64, bytes: u64) -> bool {
        match &mut self.flow {
            Some(flow) => flow.send.reserve(connection, bytes),
            None => true,
        }
    }

    /// Gives back credit reserved for a chunk that was never sent.
    pub(crate) fn refund_credit(&mut self, connection: u64, bytes: u64) {
        if let Some(flow) = &mut self.flow {
            flow.send.refund(connection, bytes);
        }
    }

    /// The outcome of call `key`, if it arrived.
    pub(crate) fn take_call(&mut self, key: CallKey) -> Option<Result<Response, CallFailure>> {
        let (outcome, charged) = self.calls.take(key)?;
        self.release_response(key, charged);
        Some(outcome)
    }

    /// Gives up call `key` (its caller timed out).
    pub(crate) fn cancel_call(&mut self, key: CallKey) {
        let charged = self.calls.cancel(key);
        self.release_response(key, charged);
    }

    fn release_response(&mut self, key: CallKey, charged: u64) {
        if charged != 0 {
            let account = Account {
                connection: key.connection,
                kind: MessageKind::Response,
            };
            self.budget.release(account, charged, 1);
        }
    }

    /// Queues `packet` for the peer; drops it (counted) when the queue is
    /// full, or when it repeats the newest queued reply (a flood of bad
    /// chunks earns one answer per burst, not one per chunk).
    pub(crate) fn reply(&mut self, packet: Packet) {
        if self.replies.back() == Some(&packet) {
            return;
        }
        if self.replies.len() >= MAX_QUEUED_REPLIES {
            self.events.replies_dropped += 1;
            return;
        }
        self.replies.push_back(packet);
    }

    /// Routes one received packet (arrived at `now`) with its slot's
    /// payload, which is copied, never kept. The error says why the packet
    /// was refused; a reply it owes is queued either way. Tasks waiting for
    /// what it delivered are woken.
    pub(crate) fn route(
        &mut self,
        packet: &Packet,
        payload: PayloadView<'_>,
        now: Instant,
    ) -> Reply {
        let routed = self.route_packet(packet, payload, now);
        if routed.as_ref().is_ok_and(|r| r.delivered) {
            self.wake_tasks();
        } else {
            // A refused response may still fail its call (an overflow).
            self.wake_calls();
        }
        routed
    }

    /// Wakes the tasks of completed calls.
    fn wake_calls(&mut self) {
        for call in self.calls.take_completed() {
            self.tasks.wake_call(call);
        }
    }

    /// Wakes the tasks of completed calls and those waiting for anything
    /// else.
    fn wake_tasks(&mut self) {
        self.wake_calls();
        self.tasks.wake_others();
    }

    fn route_packet(&mut self, packet: &Packet, payload: PayloadView<'_>, now: Instant) -> Reply {
        let message = Message::decode(packet)?;
        message.validate(&self.limits)?;
        match message {
            Message::ProtoNegotiate(_) => {
                if self.negotiate_seen {
                    return Err(InboundError::Unexpected("second ProtoNegotiate"));
                }
                self.negotiate_seen = true;
                self.negotiate_request = Some(*packet);
                Ok(delivered())
            }
            Message::ProtoAck(_) => {
                if !self.awaiting_ack || self.negotiate_answer.is_some() {
                    return Err(InboundError::Unexpected("ProtoAck"));
                }
                self.negotiate_answer = Some(*packet);
                Ok(delivered())
            }
            Message::Error(error) => self.on_error(packet, error),
            Message::ConnCreate(ConnCreate { connection, .. }) => {
                if let Err(refused) = self.connections.on_create(connection) {
                    let error = Error {
                        context: connection,
                        code: refused.error_code(),
                    };
                    self.reply(error.encode());
                    return Err(refused.into());
                }
                Ok(delivered())
            }
            Message::ConnAccept(ConnAccept { connection }) => {
                self.connections.on_accept(connection)?;
                Ok(delivered())
            }
            Message::ConnClose(ConnClose { connection, .. }) => {
                if !self.connections.on_close(connection) {
                    return Err(InboundError::UnknownConnection(connection));
                }
                self.peer_closed(connection);
                Ok(delivered())
            }
            Message::ConnCopy(chunk) => self.on_chunk(&chunk, payload, now),
            Message::ConnCredit(credit) => self.on_credit(credit),
            Message::Handshake(handshake) => self.on_handshake(&handshake, payload),
            Message::StandardLinkCopy(_) | Message::StandardLinkTombstone(_) => {
                Err(InboundError::Unexpected("Standard link"))
            }
        }
    }

    fn on_error(&mut self, packet: &Packet, error: Error) -> Reply {
        let routed = Routed {
            peer_error: true,
            delivered: true,
            ..Routed::default()
        };
        if self.awaiting_ack && self.negotiate_answer.is_none() {
            self.negotiate_answer = Some(*packet);
            return Ok(routed);
        }
        if error.context == 0 && self.handshake.take().is_some() {
            self.handshake_outcome = Some(Err(HandshakeError::Refused(error.code)));
            return Ok(routed);
        }
        if self.connections.on_error(error.context, error.code) {
            return Ok(routed);
        }
        // The peer does not know this connection (it closed it, or never
        // had it): it is closed for us too.
        if error.code == ErrorCode::ConnNotFound
            && error.context != 0
            && self.connections.on_close(error.context)
        {
            self.peer_closed(error.context);
            return Ok(routed);
        }
        // ConnNotFound names a connection, never a request.
        let about_a_request = error.code != ErrorCode::ConnNotFound;
        if let Some(key) = self
            .calls
            .pending_with_message(error.context)
            .filter(|_| about_a_request)
        {
            self.calls
                .complete(key, Err(CallFailure::Refused(error.code)), 0)?;
            return Ok(routed);
        }
        // BufferOverflow names a connection whose data the peer dropped;
        // the calls on it end at their deadlines.
        Ok(Routed {
            delivered: false,
            ..routed
        })
    }

    /// The peer's new limit for what this side sends on a connection.
    fn on_credit(&mut self, credit: ConnCredit) -> Reply {
        let Some(flow) = &mut self.flow else {
            self.events.credit_errors += 1;
            return Err(InboundError::Unexpected("ConnCredit"));
        };
        if !self.connections.is_open(credit.connection) {
            // It may have crossed our ConnClose.
            return Err(InboundError::UnknownConnection(credit.connection));
        }
        match flow.send.on_credit(credit.connection, credit.limit) {
            Ok(raised) => Ok(Routed {
                delivered: raised,
                ..Routed::default()
            }),
            Err(refused) => {
                self.events.credit_errors += 1;
                let error = Error {
                    context: credit.connection,
                    code: ErrorCode::InvalidOp,
                };
                self.reply(error.encode());
                Err(refused.into())
            }
        }
    }

    fn peer_closed(&mut self, connection: u64) {
        self.calls
            .fail_connection(connection, CallFailure::ConnectionClosed);
        self.reassembler
            .drop_connection(connection, &mut self.budget);
        self.sequencer.drop_connection(connection);
        self.decoders.retain(|key, _| key.connection != connection);
        if let Some(flow) = &mut self.flow {
            flow.forget(connection);
        }
        self.openers.retain(|key, _| key.connection != connection);
        self.closed_by_peer.insert(connection);
    }

    /// Forgets everything about `connection` after this side closed it,
    /// giving back what its queues held.
    pub(crate) fn local_closed(&mut self, connection: u64) {
        self.peer_closed(connection);
        self.closed_by_peer.remove(&connection);
        while self.take_message(connection).is_some() {}
        while self.take_stream_event(connection).is_some() {}
        while self.take_request(Some(connection)).is_some() {}
        self.budget.forget_connection(connection);
        self.messages.remove(&connection);
        self.streams.remove(&connection);
        self.streamed.remove(&connection);
        self.wake_calls();
        self.tasks.wake_all();
    }

    /// Evicts the partial messages idle at `now` (a streamed one ends with
    /// an Aborted event); returns how many.
    pub(crate) fn evict_idle(&mut self, now: Instant) -> usize {
        let mut evicted = self.reassembler.evict_idle(now, &mut self.budget);
        for key in self.sequencer.evict_idle(now) {
            evicted += 1;
            self.decoders.remove(&key);
            self.openers.remove(&key);
            let event = StreamEvent::Aborted {
                message: key.message,
            };
            // One entry, bounded by the partial-message limit.
            self.streams
                .entry(key.connection)
                .or_default()
                .push_back((event, 0, 0));
            self.budget.charge_unchecked(
                Account {
                    connection: key.connection,
                    kind: MessageKind::Plain,
                },
                0,
                1,
            );
        }
        self.events.evicted += evicted as u64;
        if evicted != 0 {
            self.tasks.wake_others();
        }
        evicted
    }

    fn on_chunk(&mut self, chunk: &ConnCopy, payload: PayloadView<'_>, now: Instant) -> Reply {
        if !self.connections.is_open(chunk.connection) {
            let error = Error {
                context: chunk.connection,
                code: ErrorCode::ConnNotFound,
            };
            self.reply(error.encode());
            return Err(InboundError::UnknownConnection(chunk.connection));
        }
        if chunk.chunk_flags.contains(FrameFlags::COMPRESSED) && !self.compression_granted {
            self.events.decompression_failures += 1;
            return Err(DecompressError::NotNegotiated.into());
        }
        if let Some(flow) = &mut self.flow {
            if let Err(overrun) = flow.receive.admit(chunk.connection, chunk.size) {
                self.events.credit_errors += 1;
                let error = Error {
                    context: chunk.connection,
                    code: ErrorCode::BufferOverflow,
                };
                self.reply(error.encode());
                return Err(overrun.into());
            }
        }
        self.check_sealing(chunk)?;
        let key = MessageKey::of(chunk);
        let streamed = key.kind == MessageKind::Plain
            && !self.streamed.is_empty()
            && self.streamed.contains(&chunk.connection);
        let mut result = self.accept_chunk(chunk, payload, now, streamed);
        let begins = chunk.chunk_flags.contains(FrameFlags::BEGIN);
        if let Err(InboundError::Reassembly(
            ReassemblyError::TooManyPartial { .. } | ReassemblyError::Overflow { .. },
        )) = result
        {
            // Make room from messages nobody finishes, then try once more.
            if begins && self.evict_idle(now) != 0 {
                result = self.accept_chunk(chunk, payload, now, streamed);
            }
        }
        if let Some(flow) = &mut self.flow {
            flow.receive.settle(chunk.connection);
        }
        self.refused(result)
    }

    /// Answers a chunk that did not fit the budget.
    fn refused(&mut self, result: Reply) -> Reply {
        if let Err(InboundError::Reassembly(ReassemblyError::Overflow { key, .. })) = result {
            self.overflowed(key);
        }
        result
    }

    /// A message of `key` did not fit the budget: tell the peer, and fail
    /// the call it answered.
    fn overflowed(&mut self, key: MessageKey) {
        self.events.overflows += 1;
        let error = Error {
            context: key.connection,
            code: ErrorCode::BufferOverflow,
        };
        self.reply(error.encode());
        if key.kind == MessageKind::Response {
            let call = CallKey {
                connection: key.connection,
                message: key.message,
            };
            // A response for no call stays an error of its own.
            let _ = self.calls.complete(call, Err(CallFailure::Overflow), 0);
        }
    }

    fn accept_chunk(
        &mut self,
        chunk: &ConnCopy,
        payload: PayloadView<'_>,
        now: Instant,
        streamed: bool,
    ) -> Reply {
        let mut routed = Routed {
            chunk: true,
            connection: chunk.connection,
            ..Routed::default()
        };
        if streamed {
            return self.stream_chunk(chunk, payload, now, routed);
        }
        let mut message = match self
            .reassembler
            .accept(chunk, payload, &mut self.budget, now)?
        {
            Assembled::Partial => {
                if chunk.chunk_flags.contains(FrameFlags::ENCRYPTED) {
                    self.open_arrived(chunk)?;
                }
                return Ok(routed);
            }
            Assembled::Aborted(_) => {
                routed.aborted = true;
                return Ok(routed);
            }
            Assembled::Complete(message) => message,
        };
        if chunk.chunk_flags.contains(FrameFlags::ENCRYPTED) {
            self.open_whole(chunk.chunk_flags, &mut message)?;
        }
        let message = if chunk.chunk_flags.contains(FrameFlags::COMPRESSED) {
            self.decompress_whole(chunk.chunk_flags, message)?
        } else {
            message
        };
        routed.completed = Some(message.data.len() as u64);
        routed.delivered = true;
        self.deliver(message)?;
        Ok(routed)
    }

    /// Queues a whole message for whoever takes it (its budget charge goes
    /// with it).
    fn deliver(&mut self, message: AssembledMessage) -> Result<(), InboundError> {
        match message.key.kind {
            MessageKind::Plain => {
                self.queued(message.key.connection, message.wire);
                self.messages
                    .entry(message.key.connection)
                    .or_default()
                    .push_back(message);
            }
            MessageKind::Request => {
                let (charged, wire) = (message.charged, message.wire);
                self.queued(message.key.connection, wire);
                let request = IncomingRequest {
                    connection: message.key.connection,
                    message: message.key.message,
                    method: message.method_or_status,
                    data: message.data,
                };
                self.requests.push_back((request, charged, wire));
            }
            MessageKind::Response => {
                let key = CallKey {
                    connection: message.key.connection,
                    message: message.key.message,
                };
                let (account, charged) = (message.account(), message.charged);
                let response = Response {
                    status: message.method_or_status,
                    error: message.error,
                    data: message.data,
                };
                if let Err(e) = self.calls.complete(key, Ok(response), charged) {
                    self.budget.release(account, charged, 1);
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    fn stream_chunk(
        &mut self,
        chunk: &ConnCopy,
        payload: PayloadView<'_>,
        now: Instant,
        mut routed: Routed,
    ) -> Reply {
        let key = MessageKey::of(chunk);
        let info = match self.sequencer.accept(chunk, now)? {
            Sequenced::Aborted(key) => {
                routed.aborted = true;
                routed.delivered = true;
                self.decoders.remove(&key);
                self.openers.remove(&key);
                let event = StreamEvent::Aborted {
                    message: key.message,
                };
                self.push_stream_event(key, event, 0)?;
                return Ok(routed);
            }
            Sequenced::Chunk(info) => info,
        };
        let data = usize::try_from(info.size)
            .ok()
            .and_then(|size| payload.get(..size))
            .ok_or(ReassemblyError::PayloadShort {
                key,
                size: info.size,
                available: payload.len(),
            });
        let charged = info.size + ENTRY_BYTES;
        let data = data.map_err(InboundError::from).and_then(|data| {
            // Charged before the copy is made.
            self.charge_stream(key, charged)?;
            Ok(data)
        });
        let data = match data {
            Ok(data) => data,
            Err(e) => {
                self.sequencer.forget(&key);
                self.decoders.remove(&key);
                self.openers.remove(&key);
                return Err(e);
            }
        };
        // The one copy out of the segment.
        let copy = data.to_vec();
        let (copy, info, charged) = if chunk.chunk_flags.contains(FrameFlags::ENCRYPTED) {
            match self.open_streamed(key, chunk.chunk_flags, info, copy, charged) {
                Ok(opened) => opened,
                Err(e) => {
                    self.sequencer.forget(&key);
                    self.decoders.remove(&key);
                    self.budget.release(stream_account(key), charged, 1);
                    if !info.first {
                        let event = StreamEvent::Aborted {
                            message: key.message,
                        };
                        self.push_stream_event(key, event, 0)?;
                    }
                    return Err(e);
                }
            }
        } else {
            (copy, info, charged)
        };
        let (data, offset, total, charged) = if chunk.chunk_flags.contains(FrameFlags::COMPRESSED) {
            match self.decompress_streamed(key, info.first, info.last, chunk.chunk_flags, &copy) {
                Ok((data, offset, total)) => {
                    let charged = ENTRY_BYTES + data.len() as u64;
                    (data, offset, total, charged)
                }
                Err(e) => {
                    self.sequencer.forget(&key);
                    self.budget.release(stream_account(key), charged, 1);
                    let event = StreamEvent::Aborted {
                        message: key.message,
                    };
                    if !info.first {
                        self.push_stream_event(key, event, 0)?;
                    }
                    return Err(e);
                }
            }
        } else {
            (copy, info.offset, info.total, charged)
        };
        if info.last {
            routed.completed = Some(total);
        }
        routed.delivered = true;
        let event = StreamEvent::Chunk {
            message: key.message,
            offset,
            total,
            data,
            last: info.last,
        };
        self.queued(key.connection, info.size);
        self.streams
            .entry(key.connection)
            .or_default()
            .push_back((event, charged, info.size));
        Ok(routed)
    }

    /// Replaces a whole compressed `message` (flags `flags`) by its
    /// decompressed bytes, each frame charged to the message's account
    /// before it is allocated; on error everything it held is released.
    fn decompress_whole(
        &mut self,
        flags: FrameFlags,
        mut message: AssembledMessage,
    ) -> Result<AssembledMessage, InboundError> {
        let (key, account) = (message.key, message.account());
        let budget = &mut self.budget;
        let mut charged = 0u64;
        let started = Instant::now();
        let out = decompress_message(
            flags,
            &message.data,
            self.limits.max_message_size,
            &mut |n| charge_frame(budget, key, account, n, &mut charged),
        );
        self.events.decompression_nanos += sealed::elapsed_nanos(started);
        let compressed = message.charged.saturating_sub(ENTRY_BYTES);
        match out {
            Ok(data) => {
                self.budget.release(account, compressed, 0);
                self.events.decompressed_bytes += data.len() as u64;
                message.data = data;
                message.charged = ENTRY_BYTES + charged;
                Ok(message)
            }
            Err(e) => {
                self.budget.release(account, message.charged + charged, 1);
                self.events.decompression_failures += 1;
                Err(e)
            }
        }
    }

    /// Decompresses one chunk (`copy`, already out of the segment) of a
    /// compressed streamed message; returns its bytes, their offset in the
    /// decompressed message and the bytes produced so far. What it
    /// produced is charged to the stream's account; the caller's charge
    /// for the compressed copy is given back.
    fn decompress_streamed(
        &mut self,
        key: MessageKey,
        first: bool,
        last: bool,
        flags: FrameFlags,
        copy: &[u8],
    ) -> Result<(Vec<u8>, u64, u64), InboundError> {
        let max = self.limits.max_message_size;
        let mut decoder = match self.decoders.remove(&key) {
            Some(decoder) if !first => decoder,
            _ => FrameDecoder::new(flags, max),
        };
        let offset = decoder.produced();
        let (budget, account) = (&mut self.budget, stream_account(key));
        let mut charged = 0u64;
        let mut out = Vec::new();
        let started = Instant::now();
        let pushed = decoder.push(copy, &mut out, &mut |n| {
            charge_frame(budget, key, account, n, &mut charged)
        });
        let result = pushed.and_then(|()| {
            if last {
                decoder.finish()?;
            }
            Ok(())
        });
        self.events.decompression_nanos += sealed::elapsed_nanos(started);
        if let Err(e) = result {
            self.budget.release(account, charged, 0);
            self.events.decompression_failures += 1;
            return Err(e);
        }
        self.budget.release(account, copy.len() as u64, 0);
        self.events.decompressed_bytes += out.len() as u64;
        let total = decoder.produced();
        if !last {
            self.decoders.insert(key, decoder);
        }
        Ok((out, offset, total))
    }

    fn charge_stream(&mut self, key: MessageKey, charged: u64) -> Result<(), InboundError> {
        let account = Account {
            connection: key.connection,
            kind: MessageKind::Plain,
        };
        self.budget
            .charge(account, charged, 1)
            .map_err(|o| ReassemblyError::Overflow {
                key,
                bytes: o.bytes,
                in_use: o.in_use,
                max: o.max,
            })?;
        Ok(())
    }

    fn push_stream_event(
        &mut self,
        key: MessageKey,
        event: StreamEvent,
        charged: u64,
    ) -> Result<(), InboundError> {
        self.charge_stream(key, charged)?;
        self.streams
            .entry(key.connection)
            .or_default()
            .push_back((event, charged, 0));
        Ok(())
    }
}

fn delivered() -> Routed {
    Routed {
        delivered: true,
        ..Routed::default()
    }
}

/// The account a streamed chunk of `key` is charged to.
fn stream_account(key: MessageKey) -> Account {
    Account {
        connection: key.connection,
        kind: MessageKind::Plain,
    }
}

/// Charges one decompressed frame of `n` bytes to `account` (adding it to
/// `charged`), or refuses it as an overflow of message `key`.
fn charge_frame(
    budget: &mut Budget,
    key: MessageKey,
    account: Account,
    n: u64,
    charged: &mut u64,
) -> Result<(), InboundError> {
    budget
        .charge(account, n, 0)
        .map_err(|o| ReassemblyError::Overflow {
            key,
            bytes: o.bytes,
            in_use: o.in_use,
            max: o.max,
        })?;
    *charged += n;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advanced::chunking::MessageHeader;
    use crate::protocol::ErrorCode;

    fn inbox() -> Inbox {
        Inbox::new(
            Limits::new(8, 64),
            ReassemblyLimits::default(),
            ReceiveBudget::default(),
            1 << 63,
        )
    }

    fn route(inbox: &mut Inbox, packet: &Packet, payload: &[u8]) -> (Option<Packet>, Reply) {
        let routed = inbox.route(packet, PayloadView::from_slice(payload), Instant::now());
        (inbox.replies.pop_front(), routed)
    }

    fn copy(words: [u64; 7]) -> Packet {
        Packet::new(0x04, words)
    }

    fn header(connection: u64, message: u64, kind: MessageKind) -> MessageHeader {
        MessageHeader {
            connection,
            message,
            kind,
            error: false,
            method_or_status: 0,
        }
    }

    fn deliver(inbox: &mut Inbox, header: MessageHeader, data: &[u8]) -> Vec<Reply> {
        header
            .chunks(data.len() as u64, 64)
            .map(|c| {
                let bytes = &data[c.offset as usize..(c.offset + c.size) as usize];
                inbox.route(&c.encode(), PayloadView::from_slice(bytes), Instant::now())
            })
            .collect()
    }

    #[test]
    fn bad_flags_are_typed_errors() {
        let mut inbox = inbox();
        // Unknown flag bit, Request with Response, Error without Response,
        // Zstd without Compressed.
        for flags in [1 << 9 | 3, 3 | 8 | 16, 3 | 32, 1 << 7 | 3] {
            let (reply, routed) = route(&mut inbox, &copy([0, 1, 0, 0, 0, flags, 0]), &[]);
            assert_eq!(reply, None);
            assert!(matches!(routed, Err(InboundError::Decode(_))), "{flags:#x}");
        }
        // A chunk past its total, and a chunk larger than a buffer.
        let (_, past) = route(&mut inbox, &copy([0, 1, 10, 0, 11, 1, 0]), &[0; 64]);
        assert!(matches!(past, Err(InboundError::Decode(_))));
        let (_, big) = route(&mut inbox, &copy([0, 1, 100, 0, 65, 1, 0]), &[0; 64]);
        assert!(matches!(big, Err(InboundError::Limit(_))));
    }

    #[test]
    fn plain_messages_requests_and_responses_are_routed() {
        let mut inbox = inbox();
        let data: Vec<u8> = (0..150).collect();
        let results = deliver(&mut inbox, header(0, 1, MessageKind::Plain), &data);
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(results[2].unwrap().completed, Some(150));
        assert_eq!(inbox.take_message(0).unwrap().data, data);
        assert_eq!(inbox.take_message(0), None);

        let mut request = header(0, 1, MessageKind::Request);
        request.method_or_status = 7;
        deliver(&mut inbox, request, b"ping");
        let incoming = inbox.take_request(None).unwrap();
        assert_eq!(
            (incoming.method, incoming.data.as_slice()),
            (7, &b"ping"[..])
        );

        let key = CallKey {
            connection: 0,
            message: 1,
        };
        inbox.calls.register(key);
        deliver(&mut inbox, header(0, 1, MessageKind::Response), b"");
        assert_eq!(inbox.take_call(key).unwrap().unwrap().data, b"");
        assert_eq!(inbox.held(), (0, 0));
    }

    #[test]
    fn a_response_for_a_call_nobody_made() {
        let mut inbox = inbox();
        let results = deliver(&mut inbox, header(0, 3, MessageKind::Response), b"x");
        assert!(matches!(
            results[0],
            Err(InboundError::UnexpectedResponse(_))
        ));
    }

    #[test]
    fn connection_packets() {
        let mut inbox = inbox();
        // ConnCreate with nobody listening: Error(ConnNotFound) goes back.
        let (reply, routed) = route(&mut inbox, &Packet::new(0x01, [5, 0, 0, 0, 0, 0, 0]), &[]);
        assert!(matches!(routed, Err(InboundError::ConnectionRefused(_))));
        let reply = Error::decode(&reply.unwrap()).unwrap();
        assert_eq!((reply.context, reply.code), (5, ErrorCode::ConnNotFound));
        // ConnAccept nobody dialed.
        let (_, routed) = route(&mut inbox, &Packet::new(0x02, [9, 0, 0, 0, 0, 0, 0]), &[]);
        assert!(matches!(routed, Err(InboundError::UnknownDial(_))));
        // A chunk on a connection that is not open.
        let results = deliver(&mut inbox, header(4, 1, MessageKind::Plain), b"x");
        assert!(matches!(
            results[0],
            Err(InboundError::UnknownConnection(4))
        ));
        // Closing fails the connection's pending calls.
        inbox.connections.listen();
        route(&mut inbox, &Packet::new(0x01, [5, 0, 0, 0, 0, 0, 0]), &[])
            .1
            .unwrap();
        assert_eq!(inbox.connections.take_incoming(), Some(5));
        let key = CallKey {
            connection: 5,
            message: 1,
        };
        inbox.calls.register(key);
        route(&mut inbox, &Packet::new(0x03, [5, 0, 0, 0, 0, 0, 0]), &[])
            .1
            .unwrap();
        assert_eq!(
            inbox.take_call(key),
            Some(Err(CallFailure::ConnectionClosed))
        );
        assert!(inbox.closed_by_peer.contains(&5));
    }

    #[test]
    fn negotiation_packets_out_of_turn() {
        let mut inbox = inbox();
        let negotiate = Packet::new(0x05, [0x100, 3, 7, 0, 0, 0, 0]);
        route(&mut inbox, &negotiate, &[]).1.unwrap();
        assert!(matches!(
            route(&mut inbox, &negotiate, &[]).1,
            Err(InboundError::Unexpected(_))
        ));
        let ack = Packet::new(0x06, [0x100, 3, 7, 0, 0, 0, 0]);
        assert!(matches!(
            route(&mut inbox, &ack, &[]).1,
            Err(InboundError::Unexpected(_))
        ));
        inbox.awaiting_ack = true;
        route(&mut inbox, &ack, &[]).1.unwrap();
        assert_eq!(inbox.negotiate_answer, Some(ack));
    }

    #[test]
    fn streamed_connections_hand_out_chunks() {
        let mut inbox = inbox();
        inbox.set_streamed(0, true);
        let data: Vec<u8> = (0..150).collect();
        deliver(&mut inbox, header(0, 1, MessageKind::Plain), &data);
        let mut got = Vec::new();
        while let Some(event) = inbox.take_stream_event(0) {
            match event {
                StreamEvent::Chunk { data, .. } => got.extend(data),
                StreamEvent::Aborted { .. } => panic!("not aborted"),
            }
        }
        assert_eq!(got, data);
        let h = header(0, 2, MessageKind::Plain);
        let first = h.chunks(300, 64).next().unwrap();
        route(&mut inbox, &first.encode(), &[0; 64]).1.unwrap();
        let routed = route(&mut inbox, &h.abort().encode(), &[]).1.unwrap();
        assert!(routed.aborted);
        assert!(inbox.take_stream_event(0).is_some());
        assert_eq!(
            inbox.take_stream_event(0),
            Some(StreamEvent::Aborted { message: 2 })
        );
    }

    fn small_budget() -> Inbox {
        Inbox::new(
            Limits::new(8, 64),
            ReassemblyLimits {
                partial_idle: std::time::Duration::from_millis(1),
                max_partial_messages: 4,
                ..ReassemblyLimits::default()
            },
            ReceiveBudget {
                link_bytes: 8 * 1024,
                link_entries: 64,
                connection_bytes: 4 * 1024,
                connection_entries: 16,
            },
            1 << 63,
        )
    }

    #[test]
    fn a_flood_of_unread_messages_is_refused_and_calls_keep_working() {
        let mut inbox = small_budget();
        let mut overflowed = 0;
        for message in 1..=100 {
            let results = deliver(&mut inbox, header(0, message, MessageKind::Plain), &[7; 64]);
            if let Err(InboundError::Reassembly(ReassemblyError::Overflow { .. })) = results[0] {
                overflowed += 1;
                let reply = Error::decode(&inbox.replies.pop_front().unwrap()).unwrap();
                assert_eq!((reply.context, reply.code), (0, ErrorCode::BufferOverflow));
            }
            let (bytes, entries) = inbox.held();
            assert!(bytes <= 4 * 1024 && entries <= 16, "{bytes} {entries}");
        }
        assert!(overflowed >= 80, "{overflowed}");
        assert_eq!(inbox.events.overflows, overflowed);
        // Requests on the same connection have their own account.
        let mut request = header(0, 1000, MessageKind::Request);
        request.method_or_status = 3;
        assert!(deliver(&mut inbox, request, b"ping")[0].is_ok());
        assert_eq!(inbox.take_request(None).unwrap().data, b"ping");
        // Taking the queued messages gives their budget back.
        while inbox.take_message(0).is_some() {}
        assert_eq!(inbox.held(), (0, 0));
        assert!(deliver(&mut inbox, header(0, 2000, MessageKind::Plain), b"x")[0].is_ok());
    }

    #[test]
    fn a_response_that_does_not_fit_fails_its_call() {
        let mut inbox = small_budget();
        let key = CallKey {
            connection: 0,
            message: 1,
        };
        inbox.calls.register(key);
        let results = deliver(&mut inbox, header(0, 1, MessageKind::Response), &[1; 5000]);
        assert!(results.iter().any(Result::is_err));
        assert_eq!(inbox.take_call(key), Some(Err(CallFailure::Overflow)));
        assert_eq!(inbox.held(), (0, 0));
    }

    #[test]
    fn memory_follows_the_chunks_not_the_announced_total() {
        let mut inbox = inbox();
        for message in 1..=64 {
            let first = header(0, message, MessageKind::Plain)
                .chunks(Limits::DEFAULT_MAX_MESSAGE_SIZE, 64)
                .next()
                .unwrap();
            inbox
                .route(
                    &first.encode(),
                    PayloadView::from_slice(&[0; 64]),
                    Instant::now(),
                )
                .unwrap();
        }
        // 64 announced maximum-size messages hold their first reservations only.
        let (bytes, entries) = inbox.held();
        assert_eq!(entries, 64);
        assert!(bytes <= 64 * (64 * 1024 + ENTRY_BYTES), "{bytes}");
    }

    #[test]
    fn idle_partial_messages_are_evicted() {
        let mut inbox = small_budget();
        let start = Instant::now();
        for message in 1..=4 {
            let first = header(0, message, MessageKind::Plain)
                .chunks(300, 64)
                .next()
                .unwrap();
            inbox
                .route(&first.encode(), PayloadView::from_slice(&[0; 64]), start)
                .unwrap();
        }
        let fifth = header(0, 5, MessageKind::Plain)
            .chunks(300, 64)
            .next()
            .unwrap();
        assert!(matches!(
            inbox.route(&fifth.encode(), PayloadView::from_slice(&[0; 64]), start),
            Err(InboundError::Reassembly(
                ReassemblyError::TooManyPartial { .. }
            ))
        ));
        // Later, the four idle ones make room.
        let later = start + std::time::Duration::from_millis(5);
        inbox
            .route(&fifth.encode(), PayloadView::from_slice(&[0; 64]), later)
            .unwrap();
        assert_eq!(inbox.events.evicted, 4);
        assert_eq!(inbox.held().1, 1);
        // A streamed message that stalls ends with an Aborted event.
        inbox.set_streamed(3, true);
        inbox.connections.listen();
        inbox
            .route(
                &Packet::new(0x01, [3, 0, 0, 0, 0, 0, 0]),
                PayloadView::from_slice(&[]),
                later,
            )
            .unwrap();
        inbox.connections.take_incoming();
        let streamed = header(3, 1, MessageKind::Plain)
            .chunks(300, 64)
            .next()
            .unwrap();
        inbox
            .route(&streamed.encode(), PayloadView::from_slice(&[0; 64]), later)
            .unwrap();
        assert!(inbox.take_stream_event(3).is_some());
        assert_eq!(
            inbox.evict_idle(later + std::time::Duration::from_millis(5)),
            2
        );
        assert_eq!(
            inbox.take_stream_event(3),
            Some(StreamEvent::Aborted { message: 1 })
        );
        assert_eq!(inbox.held(), (0, 0));
    }

    #[test]
    fn data_on_unknown_connections_is_answered_and_conn_not_found_closes() {
        let mut inbox = inbox();
        let results = deliver(&mut inbox, header(9, 1, MessageKind::Plain), &[0; 150]);
        assert!(results
            .iter()
            .all(|r| *r == Err(InboundError::UnknownConnection(9))));
        // One answer for the burst.
        let reply = Error::decode(&inbox.replies.pop_front().unwrap()).unwrap();
        assert_eq!((reply.context, reply.code), (9, ErrorCode::ConnNotFound));
        assert!(inbox.replies.is_empty());
        // The peer says it does not know an open connection: it is closed.
        inbox.connections.listen();
        inbox
            .route(
                &Packet::new(0x01, [4, 0, 0, 0, 0, 0, 0]),
                PayloadView::from_slice(&[]),
                Instant::now(),
            )
            .unwrap();
        inbox.connections.take_incoming();
        let key = CallKey {
            connection: 4,
            message: 1,
        };
        inbox.calls.register(key);
        let not_found = Error {
            context: 4,
            code: ErrorCode::ConnNotFound,
        };
        inbox
            .route(
                &not_found.encode(),
                PayloadView::from_slice(&[]),
                Instant::now(),
            )
            .unwrap();
        assert!(!inbox.connections.is_open(4));
        assert_eq!(
            inbox.take_call(key),
            Some(Err(CallFailure::ConnectionClosed))
        );
    }

    #[test]
    fn the_reply_queue_is_bounded() {
        let mut inbox = inbox();
        for connection in 1..=200 {
            let create = Packet::new(0x01, [connection, 0, 0, 0, 0, 0, 0]);
            assert!(inbox
                .route(&create, PayloadView::from_slice(&[]), Instant::now())
                .is_err());
        }
        assert_eq!(inbox.replies.len(), MAX_QUEUED_REPLIES);
        assert_eq!(
            inbox.events.replies_dropped,
            200 - MAX_QUEUED_REPLIES as u64
        );
    }
}
