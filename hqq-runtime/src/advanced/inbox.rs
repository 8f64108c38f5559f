//! The Advanced link's inbox: every received packet routed to the queue or
//! table its taker waits on.
//!
//! [`Inbox::route`] is the whole receive-side protocol logic and touches no
//! shared memory: the link hands it each packet with a copy of its payload
//! and sends back the reply it asks for. Waiting threads take what is
//! theirs (a negotiation request, an ack, a dial outcome, a message of a
//! connection, a request, a response to their call), so concurrent
//! receivers never take each other's frames.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::advanced::calls::{
    CallFailure, CallKey, PendingCalls, Response, UnexpectedResponseError,
};
use crate::advanced::chunking::MessageKind;
use crate::advanced::connections::{ConnectionCreateError, Connections, UnknownDialError};
use crate::advanced::reassembly::{
    Assembled, AssembledMessage, MessageKey, Reassembler, ReassemblyError, ReassemblyLimits,
    Sequenced, Sequencer,
};
use crate::codec::{DecodeError, Limits, PacketCodec, Violation};
use crate::packet::Packet;
use crate::payload_view::PayloadView;
use crate::protocol::{ConnAccept, ConnClose, ConnCopy, ConnCreate, Error, Message};

/// Why a received packet was refused. Each is counted in the link's
/// statistics; the packet's partial state (if any) is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum InboundError {
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
pub enum StreamEvent {
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
pub struct Routed {
    /// A packet to send back (an Error answering a refused ConnCreate).
    pub reply: Option<Packet>,
    /// The packet was a ConnCopy chunk.
    pub chunk: bool,
    /// A message was aborted.
    pub aborted: bool,
    /// A whole message of this many bytes arrived (or, streamed, its last chunk).
    pub completed: Option<u64>,
    /// The packet was an Error packet from the peer.
    pub peer_error: bool,
}

type Reply = Result<Routed, InboundError>;

/// Everything received and not yet taken, plus the receive-side state.
#[derive(Debug)]
pub struct Inbox {
    limits: Limits,
    reassembler: Reassembler,
    sequencer: Sequencer,
    /// The peer's ProtoNegotiate, until the acceptor takes it.
    pub negotiate_request: Option<Packet>,
    /// Whether this side waits for the peer's ProtoAck.
    pub awaiting_ack: bool,
    /// The peer's answer to our ProtoNegotiate (ProtoAck or Error).
    pub negotiate_answer: Option<Packet>,
    /// Whether a negotiation request was already seen.
    pub negotiate_seen: bool,
    /// Connections.
    pub connections: Connections,
    /// Outstanding calls.
    pub calls: PendingCalls,
    /// Requests to serve.
    pub requests: VecDeque<IncomingRequest>,
    messages: HashMap<u64, VecDeque<AssembledMessage>>,
    streamed: HashSet<u64>,
    streams: HashMap<u64, VecDeque<StreamEvent>>,
    /// Connections the peer closed, until their owners notice.
    pub closed_by_peer: HashSet<u64>,
}

impl Inbox {
    /// An inbox for a link with `limits`; messages are bounded by `reassembly`.
    pub fn new(limits: Limits, reassembly: ReassemblyLimits) -> Self {
        let limits = Limits {
            max_message_size: reassembly.max_message_size,
            ..limits
        };
        Inbox {
            limits,
            reassembler: Reassembler::new(reassembly),
            sequencer: Sequencer::new(reassembly),
            negotiate_request: None,
            awaiting_ack: false,
            negotiate_answer: None,
            negotiate_seen: false,
            connections: Connections::default(),
            calls: PendingCalls::default(),
            requests: VecDeque::new(),
            messages: HashMap::new(),
            streamed: HashSet::new(),
            streams: HashMap::new(),
            closed_by_peer: HashSet::new(),
        }
    }

    /// Plain messages on `connection` go out as [`StreamEvent`]s (`true`)
    /// or whole (`false`, the default).
    pub fn set_streamed(&mut self, connection: u64, streamed: bool) {
        if streamed {
            self.streamed.insert(connection);
        } else {
            self.streamed.remove(&connection);
        }
    }

    /// The oldest whole plain message on `connection`.
    pub fn take_message(&mut self, connection: u64) -> Option<AssembledMessage> {
        self.messages.get_mut(&connection)?.pop_front()
    }

    /// The oldest stream event on `connection`.
    pub fn take_stream_event(&mut self, connection: u64) -> Option<StreamEvent> {
        self.streams.get_mut(&connection)?.pop_front()
    }

    /// Routes one received packet with its slot's payload (the payload is
    /// copied, never kept). The error says why the packet was refused; the
    /// reply goes out either way.
    pub fn route(&mut self, packet: &Packet, payload: PayloadView<'_>) -> (Option<Packet>, Reply) {
        let mut reply = None;
        let routed = self.route_inner(packet, payload, &mut reply);
        (reply, routed)
    }

    fn route_inner(
        &mut self,
        packet: &Packet,
        payload: PayloadView<'_>,
        reply: &mut Option<Packet>,
    ) -> Reply {
        let message = Message::decode(packet)?;
        message.validate(&self.limits)?;
        match message {
            Message::ProtoNegotiate(_) => {
                if self.negotiate_seen {
                    return Err(InboundError::Unexpected("second ProtoNegotiate"));
                }
                self.negotiate_seen = true;
                self.negotiate_request = Some(*packet);
                Ok(Routed::default())
            }
            Message::ProtoAck(_) => {
                if !self.awaiting_ack || self.negotiate_answer.is_some() {
                    return Err(InboundError::Unexpected("ProtoAck"));
                }
                self.negotiate_answer = Some(*packet);
                Ok(Routed::default())
            }
            Message::Error(error) => self.on_error(packet, error),
            Message::ConnCreate(ConnCreate { connection, .. }) => {
                match self.connections.on_create(connection) {
                    Ok(()) => Ok(Routed::default()),
                    Err(refused) => {
                        let error = Error {
                            context: connection,
                            code: refused.error_code(),
                        };
                        // The reply goes out even though the packet counts as an error.
                        *reply = Some(error.encode());
                        Err(refused.into())
                    }
                }
            }
            Message::ConnAccept(ConnAccept { connection }) => {
                self.connections.on_accept(connection)?;
                Ok(Routed::default())
            }
            Message::ConnClose(ConnClose { connection, .. }) => {
                if !self.connections.on_close(connection) {
                    return Err(InboundError::UnknownConnection(connection));
                }
                self.peer_closed(connection);
                Ok(Routed::default())
            }
            Message::ConnCopy(chunk) => self.on_chunk(&chunk, payload),
            Message::StandardLinkCopy(_) | Message::StandardLinkTombstone(_) => {
                Err(InboundError::Unexpected("Standard link"))
            }
        }
    }

    fn on_error(&mut self, packet: &Packet, error: Error) -> Reply {
        let routed = Routed {
            peer_error: true,
            ..Routed::default()
        };
        if self.awaiting_ack && self.negotiate_answer.is_none() {
            self.negotiate_answer = Some(*packet);
            return Ok(routed);
        }
        if self.connections.on_error(error.context, error.code) {
            return Ok(routed);
        }
        if let Some(key) = self.calls.pending_with_message(error.context) {
            self.calls
                .complete(key, Err(CallFailure::Refused(error.code)))?;
            return Ok(routed);
        }
        Err(InboundError::Unexpected("Error"))
    }

    fn peer_closed(&mut self, connection: u64) {
        self.calls
            .fail_connection(connection, CallFailure::ConnectionClosed);
        self.reassembler.drop_connection(connection);
        self.sequencer.drop_connection(connection);
        self.closed_by_peer.insert(connection);
    }

    /// Forgets everything about `connection` after this side closed it.
    pub fn local_closed(&mut self, connection: u64) {
        self.calls
            .fail_connection(connection, CallFailure::ConnectionClosed);
        self.reassembler.drop_connection(connection);
        self.sequencer.drop_connection(connection);
        self.messages.remove(&connection);
        self.streams.remove(&connection);
        self.streamed.remove(&connection);
    }

    fn on_chunk(&mut self, chunk: &ConnCopy, payload: PayloadView<'_>) -> Reply {
        if !self.connections.is_open(chunk.connection) {
            return Err(InboundError::UnknownConnection(chunk.connection));
        }
        let key = MessageKey::of(chunk);
        let mut routed = Routed {
            chunk: true,
            ..Routed::default()
        };
        if key.kind == MessageKind::Plain && self.streamed.contains(&chunk.connection) {
            let event = match self.sequencer.accept(chunk)? {
                Sequenced::Aborted(key) => {
                    routed.aborted = true;
                    StreamEvent::Aborted {
                        message: key.message,
                    }
                }
                Sequenced::Chunk(info) => {
                    if info.last {
                        routed.completed = Some(info.total);
                    }
                    let data = usize::try_from(info.size)
                        .ok()
                        .and_then(|size| payload.get(..size))
                        .ok_or(ReassemblyError::PayloadShort {
                            key,
                            size: info.size,
                            available: payload.len(),
                        })?;
                    StreamEvent::Chunk {
                        message: key.message,
                        offset: info.offset,
                        total: info.total,
                        data: data.to_vec(),
                        last: info.last,
                    }
                }
            };
            self.streams
                .entry(chunk.connection)
                .or_default()
                .push_back(event);
            return Ok(routed);
        }
        let message = match self.reassembler.accept(chunk, payload)? {
            Assembled::Partial => return Ok(routed),
            Assembled::Aborted(_) => {
                routed.aborted = true;
                return Ok(routed);
            }
            Assembled::Complete(message) => message,
        };
        routed.completed = Some(message.data.len() as u64);
        match message.key.kind {
            MessageKind::Plain => {
                self.messages
                    .entry(message.key.connection)
                    .or_default()
                    .push_back(message);
            }
            MessageKind::Request => self.requests.push_back(IncomingRequest {
                connection: message.key.connection,
                message: message.key.message,
                method: message.method_or_status,
                data: message.data,
            }),
            MessageKind::Response => {
                let key = CallKey {
                    connection: message.key.connection,
                    message: message.key.message,
                };
                self.calls.complete(
                    key,
                    Ok(Response {
                        status: message.method_or_status,
                        error: message.error,
                        data: message.data,
                    }),
                )?;
            }
        }
        Ok(routed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advanced::chunking::MessageHeader;
    use crate::protocol::ErrorCode;

    fn inbox() -> Inbox {
        Inbox::new(Limits::new(8, 64), ReassemblyLimits::default())
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
                inbox.route(&c.encode(), PayloadView::from_slice(bytes)).1
            })
            .collect()
    }

    #[test]
    fn bad_flags_are_typed_errors() {
        let mut inbox = inbox();
        // Unknown flag bit, Request with Response, Error without Response.
        for flags in [1 << 6 | 3, 3 | 8 | 16, 3 | 32] {
            let (reply, routed) = inbox.route(
                &copy([0, 1, 0, 0, 0, flags, 0]),
                PayloadView::from_slice(&[]),
            );
            assert_eq!(reply, None);
            assert!(matches!(routed, Err(InboundError::Decode(_))), "{flags:#x}");
        }
        // A chunk past its total, and a chunk larger than a buffer.
        let (_, past) = inbox.route(
            &copy([0, 1, 10, 0, 11, 1, 0]),
            PayloadView::from_slice(&[0; 64]),
        );
        assert!(matches!(past, Err(InboundError::Decode(_))));
        let (_, big) = inbox.route(
            &copy([0, 1, 100, 0, 65, 1, 0]),
            PayloadView::from_slice(&[0; 64]),
        );
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
        let incoming = inbox.requests.pop_front().unwrap();
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
        assert_eq!(inbox.calls.take(key).unwrap().unwrap().data, b"");
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
        let (reply, routed) = inbox.route(
            &Packet::new(0x01, [5, 0, 0, 0, 0, 0, 0]),
            PayloadView::from_slice(&[]),
        );
        assert!(matches!(routed, Err(InboundError::ConnectionRefused(_))));
        let reply = Error::decode(&reply.unwrap()).unwrap();
        assert_eq!((reply.context, reply.code), (5, ErrorCode::ConnNotFound));
        // ConnAccept nobody dialed.
        let (_, routed) = inbox.route(
            &Packet::new(0x02, [9, 0, 0, 0, 0, 0, 0]),
            PayloadView::from_slice(&[]),
        );
        assert!(matches!(routed, Err(InboundError::UnknownDial(_))));
        // A chunk on a connection that is not open.
        let results = deliver(&mut inbox, header(4, 1, MessageKind::Plain), b"x");
        assert!(matches!(
            results[0],
            Err(InboundError::UnknownConnection(4))
        ));
        // Closing fails the connection's pending calls.
        inbox.connections.listen();
        inbox
            .route(
                &Packet::new(0x01, [5, 0, 0, 0, 0, 0, 0]),
                PayloadView::from_slice(&[]),
            )
            .1
            .unwrap();
        assert_eq!(inbox.connections.take_incoming(), Some(5));
        let key = CallKey {
            connection: 5,
            message: 1,
        };
        inbox.calls.register(key);
        inbox
            .route(
                &Packet::new(0x03, [5, 0, 0, 0, 0, 0, 0]),
                PayloadView::from_slice(&[]),
            )
            .1
            .unwrap();
        assert_eq!(
            inbox.calls.take(key),
            Some(Err(CallFailure::ConnectionClosed))
        );
        assert!(inbox.closed_by_peer.contains(&5));
    }

    #[test]
    fn negotiation_packets_out_of_turn() {
        let mut inbox = inbox();
        let negotiate = Packet::new(0x05, [0x100, 3, 7, 0, 0, 0, 0]);
        inbox
            .route(&negotiate, PayloadView::from_slice(&[]))
            .1
            .unwrap();
        assert!(matches!(
            inbox.route(&negotiate, PayloadView::from_slice(&[])).1,
            Err(InboundError::Unexpected(_))
        ));
        let ack = Packet::new(0x06, [0x100, 3, 7, 0, 0, 0, 0]);
        assert!(matches!(
            inbox.route(&ack, PayloadView::from_slice(&[])).1,
            Err(InboundError::Unexpected(_))
        ));
        inbox.awaiting_ack = true;
        inbox.route(&ack, PayloadView::from_slice(&[])).1.unwrap();
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
        inbox
            .route(&first.encode(), PayloadView::from_slice(&[0; 64]))
            .1
            .unwrap();
        let routed = inbox
            .route(&h.abort().encode(), PayloadView::from_slice(&[]))
            .1
            .unwrap();
        assert!(routed.aborted);
        assert!(inbox.take_stream_event(0).is_some());
        assert_eq!(
            inbox.take_stream_event(0),
            Some(StreamEvent::Aborted { message: 2 })
        );
    }
}
