//! Sending and receiving whole messages on an [`AdvancedLink`]: plain
//! messages (assembled or streamed) and request-response calls.

use std::borrow::Cow;
use std::io::Read;
use std::time::{Duration, Instant};

use crate::advanced::calls::{CallKey, Response};
use crate::advanced::chunking::{MessageHeader, MessageKind};
use crate::advanced::compression::compress;
use crate::advanced::encryption::{sealed_len, Binding, Sealer};
use crate::advanced::error::{
    CallError, RecvLargeError, RecvRequestError, RespondError, SendLargeError,
};
use crate::advanced::flow::MAX_FLOW_CHUNK;
use crate::advanced::inbox::{Inbox, StreamEvent};
use crate::advanced::link::{lock, AdvancedLink, ReceivedMessage, Request};
use crate::advanced::pump::Wait;
use crate::advanced::qos::{SendTurn, TurnTimedOut};
use crate::advanced::transport::{PacketTransport, TransportError};
use crate::codec::PacketCodec;
use crate::link::instant_after;
use crate::packet::Packet;
use crate::protocol::{ConnCopy, Features, FrameFlags};

const LARGE_COPY: Option<(Features, &str)> = Some((Features::LARGE_COPY, "LargeCopy"));
const REQUEST_RESPONSE: Option<(Features, &str)> =
    Some((Features::REQUEST_RESPONSE, "RequestResponse"));

/// A message's bytes, as the caller hands them to the link.
enum Body<'a> {
    /// All of them at once.
    Bytes(&'a [u8]),
    /// This many bytes, read from the source as the chunks go out.
    Reader(&'a mut dyn Read, u64),
}

impl<'a> Body<'a> {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::Reader(_, len) => *len,
        }
    }

    /// The body as a reader (`slice`: where the reader of bytes lives).
    fn reader<'b>(self, slice: &'b mut &'a [u8]) -> &'b mut dyn Read {
        match self {
            Body::Bytes(bytes) => {
                *slice = bytes;
                slice
            }
            Body::Reader(source, _) => source,
        }
    }
}

/// How one message is sealed (see [`AdvancedLink::sealing`]).
pub(crate) struct Sealing<'a> {
    pub(crate) sealer: &'a Sealer,
    /// What its frames are bound to; `total` is the sealed size.
    pub(crate) binding: Binding,
    /// The flags on every chunk (Encrypted among them).
    pub(crate) flags: FrameFlags,
}

impl<T: PacketTransport> AdvancedLink<T> {
    /// `Err((size, bound))` if a message of `total` bytes is above the
    /// bound (sealed, its size with the seal's overhead).
    fn check_size(&self, total: u64) -> Result<(), (u64, u64)> {
        let max = self.config.reassembly.max_message_size;
        let wire = match self.sealer() {
            Some(_) => sealed_len(total).unwrap_or(u64::MAX),
            None => total,
        };
        if wire > max {
            Err((wire, max))
        } else {
            Ok(())
        }
    }

    /// Sends `body` as one message with `header` (its size already
    /// checked), each chunk waiting for room until `deadline`.
    /// On a short or failing source the message is aborted and the result
    /// is `Ok(Some(bytes sent before))`; [`Body::Bytes`] never fails. A
    /// transport failure after the first chunk also tries (once) to abort
    /// the message, so the peer does not keep it. `extra` flags (a codec)
    /// go on every chunk.
    ///
    /// With FlowControl each chunk first waits for its connection's credit
    /// (chunks are then at most [`MAX_FLOW_CHUNK`]); with QualityOfService
    /// it then waits for its turn (see [`qos`](super::qos)).
    ///
    /// Once Encryption is negotiated the message is sealed as it is read
    /// (its size checked with the seal's overhead); bytes whose sealed
    /// message fits one chunk are sealed whole first
    /// ([`Sealer::seal_whole`]: on the stack, no per-frame state) and
    /// copied once into the slot.
    fn send_message(
        &self,
        header: MessageHeader,
        body: Body<'_>,
        extra: FrameFlags,
        deadline: Instant,
    ) -> Result<Option<u64>, TransportError> {
        let total = body.len();
        let mut bytes: &[u8] = &[];
        let Some(sealing) = self.sealing(&header, total, extra) else {
            let source = body.reader(&mut bytes);
            return self.send_chunks(header, total, source, extra, deadline);
        };
        if let Body::Bytes(plain) = body {
            if let Some(outcome) = self.send_sealed_whole(header, &sealing, plain, deadline) {
                return outcome;
            }
        }
        let source = body.reader(&mut bytes);
        let mut source = sealing.sealer.seal(&sealing.binding, source, total);
        let wire = sealing.binding.total;
        let outcome = self.send_chunks(header, wire, &mut source, sealing.flags, deadline);
        if let Ok(None) = outcome {
            self.counters.sealed(total, source.nanos());
        }
        outcome
    }

    /// Sends the `plain` message of `header` as [`send_message`](Self::send_message)
    /// does, sealed whole with `sealing` first, if its sealed form fits one
    /// chunk (`None`, nothing sent or sealed, if not).
    fn send_sealed_whole(
        &self,
        header: MessageHeader,
        sealing: &Sealing<'_>,
        plain: &[u8],
        deadline: Instant,
    ) -> Option<Result<Option<u64>, TransportError>> {
        let wire = sealing.binding.total;
        if !self.one_chunk(wire) {
            return None;
        }
        let (outcome, nanos) = sealing
            .sealer
            .seal_whole(&sealing.binding, plain, |sealed| {
                let mut sealed = sealed;
                self.send_chunks(header, wire, &mut sealed, sealing.flags, deadline)
            })?;
        if let Ok(None) = outcome {
            self.counters.sealed(plain.len() as u64, nanos);
        }
        Some(outcome)
    }

    /// Whether a message of `total` bytes goes in one chunk.
    pub(crate) fn one_chunk(&self, total: u64) -> bool {
        total <= self.chunk_size(self.granted(Features::FLOW_CONTROL))
    }

    /// How the message of `header` (`total` plain bytes, `extra` flags on
    /// every chunk) is sealed, once Encryption is negotiated (`None`: it
    /// goes plain). The blocking and the async send path both seal with it.
    pub(crate) fn sealing(
        &self,
        header: &MessageHeader,
        total: u64,
        extra: FrameFlags,
    ) -> Option<Sealing<'_>> {
        let sealer = self.sealer()?;
        let flags = extra | FrameFlags::ENCRYPTED;
        // The callers checked the sealed size against the message limit.
        let sealed = sealed_len(total).unwrap_or(u64::MAX);
        let binding = Binding {
            connection: header.connection,
            message: header.message,
            flags: header.kind_flags() | flags,
            method_or_status: header.method_or_status,
            total: sealed,
        };
        Some(Sealing {
            sealer,
            binding,
            flags,
        })
    }

    /// Sends `total` bytes from `source` as the chunks of one message (see
    /// [`send_message`](Self::send_message)).
    fn send_chunks(
        &self,
        header: MessageHeader,
        total: u64,
        source: &mut dyn Read,
        extra: FrameFlags,
        deadline: Instant,
    ) -> Result<Option<u64>, TransportError> {
        let flow = self.granted(Features::FLOW_CONTROL);
        let scheduled = self.granted(Features::QUALITY_OF_SERVICE);
        let chunk_size = self.chunk_size(flow);
        let mut sent = 0u64;
        let started = Instant::now();
        for mut chunk in header.chunks(total, chunk_size) {
            chunk.chunk_flags |= extra;
            let mut failed = false;
            let outcome = self.admit_chunk(&chunk, flow, scheduled, deadline, |turn| {
                let sent = self.transport.send_packet(Some(deadline), |_, buffer| {
                    fill_chunk(&header, &chunk, source, buffer, &mut failed)
                });
                drop(turn);
                sent
            });
            if let Err(e) = outcome {
                if sent != 0 || chunk.offset != 0 {
                    self.abort_message(&header);
                }
                return Err(e);
            }
            if failed {
                self.counters.abort();
                return Ok(Some(sent));
            }
            sent += chunk.size;
            self.counters.chunk_sent();
        }
        self.counters
            .message_sent(header.connection, total, started.elapsed());
        Ok(None)
    }

    /// Tells the peer (one attempt, else queued with the replies) that the
    /// message of `header`, partly sent, is aborted, so it drops what it
    /// has of it.
    pub(crate) fn abort_message(&self, header: &MessageHeader) {
        let abort = header.abort().encode();
        if self.send_control(abort, Instant::now()).is_err() {
            self.queue_reply(abort);
        }
        self.counters.abort();
    }

    /// Runs `send` for `chunk` once it has its connection's credit (with
    /// `flow`) and its turn (with `scheduled`), all before `deadline`.
    /// Credit taken for a chunk that was not sent is given back. A
    /// connection that closes while the chunk waits for credit fails it at
    /// once (`TimedOut`, which the callers tell apart by the connection
    /// being closed).
    fn admit_chunk(
        &self,
        chunk: &ConnCopy,
        flow: bool,
        scheduled: bool,
        deadline: Instant,
        send: impl FnOnce(Option<SendTurn<'_>>) -> Result<(), TransportError>,
    ) -> Result<(), TransportError> {
        let (connection, size) = (chunk.connection, chunk.size);
        let credited = flow && size != 0;
        if credited {
            self.wait_for_credit(connection, size, deadline)?;
        }
        let turn = if scheduled {
            let backlog = || self.transport.send_backlog();
            match self.scheduler.turn(connection, size, deadline, backlog) {
                Ok(turn) => Some(turn),
                Err(TurnTimedOut) => {
                    if credited {
                        self.refund_credit(connection, size);
                    }
                    return Err(TransportError::TimedOut);
                }
            }
        } else {
            None
        };
        let outcome = send(turn);
        if outcome.is_err() && credited {
            self.refund_credit(connection, size);
        }
        outcome
    }

    /// Waits until `deadline` for `size` bytes of `connection`'s credit
    /// (receiving meanwhile: the credit comes in ConnCredit packets).
    fn wait_for_credit(
        &self,
        connection: u64,
        size: u64,
        deadline: Instant,
    ) -> Result<(), TransportError> {
        let mut stalled = false;
        let credited = self.wait_for(Wait::Until(deadline), |inbox| {
            take_credit(inbox, connection, size, &mut stalled)
        });
        self.credit_outcome(credited, stalled)
    }

    /// What a wait for credit (`credited`, from [`take_credit`]) makes of
    /// the chunk: `TimedOut` if its connection closed; a wait that did not
    /// find the credit at once is counted as a stall.
    pub(crate) fn credit_outcome(
        &self,
        credited: Result<bool, TransportError>,
        stalled: bool,
    ) -> Result<(), TransportError> {
        if stalled {
            self.counters.credit_stall();
        }
        match credited? {
            true => Ok(()),
            false => Err(TransportError::TimedOut),
        }
    }

    /// Gives back credit reserved for a chunk of `size` bytes on
    /// `connection` that was not sent.
    pub(crate) fn refund_credit(&self, connection: u64, size: u64) {
        lock(&self.inbox).refund_credit(connection, size);
    }

    /// The largest chunk this link sends (with FlowControl, at most
    /// [`MAX_FLOW_CHUNK`], so that a chunk always fits the credit).
    pub(crate) fn chunk_size(&self, flow: bool) -> u64 {
        if flow {
            self.limits.buffer_size.min(MAX_FLOW_CHUNK)
        } else {
            self.limits.buffer_size
        }
    }

    /// Sends `data` as one message on `connection` (0 = the link itself),
    /// split into chunks of at most one buffer. Returns the message id.
    pub fn send_large(&self, connection: u64, data: &[u8]) -> Result<u64, SendLargeError> {
        self.send_large_until(connection, data, self.deadline())
    }

    /// [`send_large`](Self::send_large) with a deadline (for every chunk).
    pub fn send_large_until(
        &self,
        connection: u64,
        data: &[u8],
        deadline: Instant,
    ) -> Result<u64, SendLargeError> {
        self.check_size(data.len() as u64)
            .map_err(|(size, max)| SendLargeError::TooLarge { size, max })?;
        let (wire, flags) = self.compressed(data);
        self.send_plain(connection, Body::Bytes(&wire), flags, deadline)
    }

    /// `data` as this side sends it: compressed with its chunk flags when
    /// Compression was negotiated, this side compresses, `data` reaches
    /// the threshold and shrinks; else `data` itself.
    pub(crate) fn compressed<'a>(&self, data: &'a [u8]) -> (Cow<'a, [u8]>, FrameFlags) {
        let raw = (Cow::Borrowed(data), FrameFlags::empty());
        let Some(compression) = self.config.compression else {
            return raw;
        };
        if (data.len() as u64) < compression.threshold
            || self
                .require(Some((Features::COMPRESSION, "Compression")))
                .is_err()
        {
            return raw;
        }
        let started = Instant::now();
        let wire = compress(compression.codec, data);
        let output = wire.as_ref().map(|w| w.len() as u64);
        self.counters
            .compressed(data.len() as u64, output, started.elapsed());
        match wire {
            Some(wire) => (Cow::Owned(wire), compression.codec.flags()),
            None => raw,
        }
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
        self.send_large_from_until(connection, source, total, self.deadline())
    }

    /// [`send_large_from`](Self::send_large_from) with a deadline.
    pub fn send_large_from_until(
        &self,
        connection: u64,
        source: &mut dyn Read,
        total: u64,
        deadline: Instant,
    ) -> Result<u64, SendLargeError> {
        let body = Body::Reader(source, total);
        self.send_plain(connection, body, FrameFlags::empty(), deadline)
    }

    /// Sends `body` as a plain message, `flags` on every chunk.
    fn send_plain(
        &self,
        connection: u64,
        body: Body<'_>,
        flags: FrameFlags,
        deadline: Instant,
    ) -> Result<u64, SendLargeError> {
        let total = body.len();
        let header = self.plain_header(connection, total)?;
        match self.send_message(header, body, flags, deadline) {
            Ok(None) => Ok(header.message),
            Ok(Some(sent)) => Err(SendLargeError::SourceFailed { sent, total }),
            Err(e) => Err(self.send_failure(connection, e)),
        }
    }

    /// Why sending a message on `connection` failed with `e`.
    pub(crate) fn send_failure(&self, connection: u64, e: TransportError) -> SendLargeError {
        match e {
            // Flow control fails a chunk at once when its connection closes.
            TransportError::TimedOut if !self.is_open(connection) => {
                SendLargeError::NotConnected(connection)
            }
            e => e.into(),
        }
    }

    /// Why sending a response on `connection` failed with `e`.
    pub(crate) fn respond_failure(&self, connection: u64, e: TransportError) -> RespondError {
        match self.send_failure(connection, e) {
            SendLargeError::NotConnected(c) => RespondError::NotConnected(c),
            _ => e.into(),
        }
    }

    /// The header of a new plain message of `total` bytes on `connection`,
    /// after the checks a send makes.
    pub(crate) fn plain_header(
        &self,
        connection: u64,
        total: u64,
    ) -> Result<MessageHeader, SendLargeError> {
        self.require(LARGE_COPY)?;
        if !self.is_open(connection) {
            return Err(SendLargeError::NotConnected(connection));
        }
        self.check_size(total)
            .map_err(|(size, max)| SendLargeError::TooLarge { size, max })?;
        Ok(MessageHeader {
            connection,
            message: self.next_message_id(),
            kind: MessageKind::Plain,
            error: false,
            method_or_status: 0,
        })
    }

    /// The checks of a receive on `connection`.
    pub(crate) fn check_recv(&self, connection: u64) -> Result<(), RecvLargeError> {
        self.require(LARGE_COPY)?;
        if !self.is_open(connection) {
            return Err(RecvLargeError::NotConnected(connection));
        }
        Ok(())
    }

    /// Waits for the next whole message on `connection`; fails with
    /// `NotConnected` once the connection closed (messages that arrived
    /// before stay takeable until this side closes it).
    pub fn recv_large(&self, connection: u64) -> Result<ReceivedMessage, RecvLargeError> {
        self.recv_large_within(connection, Wait::Until(self.deadline()))
    }

    /// [`recv_large`](Self::recv_large) with a deadline.
    pub fn recv_large_until(
        &self,
        connection: u64,
        deadline: Instant,
    ) -> Result<ReceivedMessage, RecvLargeError> {
        self.recv_large_within(connection, Wait::Until(deadline))
    }

    /// [`recv_large`](Self::recv_large) without waiting (a bounded amount
    /// of receiving); `Transport(TimedOut)` if no whole message is there.
    pub fn try_recv_large(&self, connection: u64) -> Result<ReceivedMessage, RecvLargeError> {
        self.recv_large_within(connection, Wait::Now)
    }

    fn recv_large_within(
        &self,
        connection: u64,
        wait: Wait,
    ) -> Result<ReceivedMessage, RecvLargeError> {
        self.check_recv(connection)?;
        self.wait_for(wait, |inbox| take_large(inbox, connection))?
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
        self.recv_stream_until(connection, sink, self.deadline())
    }

    /// [`recv_stream`](Self::recv_stream) with a deadline for the whole
    /// message.
    pub fn recv_stream_until(
        &self,
        connection: u64,
        sink: &mut dyn FnMut(u64, &[u8]),
        deadline: Instant,
    ) -> Result<(u64, u64), RecvLargeError> {
        self.check_recv(connection)?;
        loop {
            let event = self.wait_for(Wait::Until(deadline), |inbox| {
                take_stream(inbox, connection)
            })??;
            if let Some(end) = stream_step(event, sink) {
                return end;
            }
        }
    }

    /// Calls `method` on the link itself (connection 0) with `request` and
    /// waits for the response.
    pub fn call(&self, method: u64, request: &[u8]) -> Result<Response, CallError> {
        self.call_on_until(0, method, request, self.deadline())
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
        self.call_on_until(connection, method, request, self.deadline())
    }

    /// [`call_on`](Self::call_on) with one deadline for sending the request
    /// and receiving the response.
    pub fn call_on_until(
        &self,
        connection: u64,
        method: u64,
        request: &[u8],
        deadline: Instant,
    ) -> Result<Response, CallError> {
        let (key, header) = self.start_call(connection, method, request.len() as u64)?;
        let _in_progress = self
            .granted(Features::QUALITY_OF_SERVICE)
            .then(|| self.scheduler.call(connection));
        let started = Instant::now();
        let (wire, flags) = self.compressed(request);
        let outcome = self
            .send_message(header, Body::Bytes(&wire), flags, deadline)
            .and_then(|_| {
                self.wait_for_on(Wait::Until(deadline), Some(connection), |inbox| {
                    inbox.take_call(key)
                })
            });
        if outcome.is_ok() {
            self.counters.call_answered(started.elapsed());
        }
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(failure)) => Err(failure.into()),
            Err(e) => {
                self.cancel_call(key);
                Err(e.into())
            }
        }
    }

    /// Registers a call of `method` on `connection` with a request of `len`
    /// bytes: its key and its request's header.
    pub(crate) fn start_call(
        &self,
        connection: u64,
        method: u64,
        len: u64,
    ) -> Result<(CallKey, MessageHeader), CallError> {
        self.require(REQUEST_RESPONSE)?;
        self.check_size(len)
            .map_err(|(size, max)| CallError::TooLarge { size, max })?;
        let message = self.next_message_id();
        let key = CallKey {
            connection,
            message,
        };
        {
            let mut inbox = lock(&self.inbox);
            if !inbox.connections.is_open(connection) {
                return Err(CallError::NotConnected(connection));
            }
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
        Ok((key, header))
    }

    /// Gives up call `key` (its caller stopped waiting).
    pub(crate) fn cancel_call(&self, key: CallKey) {
        lock(&self.inbox).cancel_call(key);
    }

    /// Waits for the next request (on any connection) to serve.
    pub fn recv_request(&self) -> Result<Request, RecvRequestError> {
        self.recv_request_until(self.deadline())
    }

    /// Waits at most `timeout` for the next request to serve.
    pub fn recv_request_timeout(&self, timeout: Duration) -> Result<Request, RecvRequestError> {
        self.recv_request_until(instant_after(timeout))
    }

    /// [`recv_request`](Self::recv_request) with a deadline.
    pub fn recv_request_until(&self, deadline: Instant) -> Result<Request, RecvRequestError> {
        self.check_serving()?;
        Ok(self.wait_for(Wait::Until(deadline), |inbox| inbox.take_request(None))?)
    }

    /// [`recv_request`](Self::recv_request) without waiting (a bounded
    /// amount of receiving); `Transport(TimedOut)` if no request is there.
    pub fn try_recv_request(&self) -> Result<Request, RecvRequestError> {
        self.require(REQUEST_RESPONSE)?;
        Ok(self.wait_for(Wait::Now, |inbox| inbox.take_request(None))?)
    }

    /// Waits until `deadline` for the next request on `connection`;
    /// `Ok(None)` when the connection closed (requests on other
    /// connections stay queued for other servers).
    pub fn recv_request_on_until(
        &self,
        connection: u64,
        deadline: Instant,
    ) -> Result<Option<Request>, RecvRequestError> {
        self.require(REQUEST_RESPONSE)?;
        Ok(
            self.wait_for_on(Wait::Until(deadline), Some(connection), |inbox| {
                take_request_on(inbox, connection)
            })?,
        )
    }

    /// Answers `request` with `response` and status 0.
    pub fn respond(&self, request: &Request, response: &[u8]) -> Result<(), RespondError> {
        self.respond_until(request, 0, false, response, self.deadline())
    }

    /// Answers `request` with an error response carrying `status` (non-zero
    /// by convention) and `detail` bytes.
    pub fn respond_error(
        &self,
        request: &Request,
        status: u64,
        detail: &[u8],
    ) -> Result<(), RespondError> {
        self.respond_until(request, status, true, detail, self.deadline())
    }

    /// Answers `request` with `status`, the Error flag if `error`, and
    /// `data`, waiting for room until `deadline`.
    pub fn respond_until(
        &self,
        request: &Request,
        status: u64,
        error: bool,
        data: &[u8],
        deadline: Instant,
    ) -> Result<(), RespondError> {
        let header = self.response_header(request, status, error, data.len() as u64)?;
        let (wire, flags) = self.compressed(data);
        match self.send_message(header, Body::Bytes(&wire), flags, deadline) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.respond_failure(request.connection, e)),
        }
    }

    /// The header of the response to `request` (`len` bytes), after the
    /// checks a response makes.
    pub(crate) fn response_header(
        &self,
        request: &Request,
        status: u64,
        error: bool,
        len: u64,
    ) -> Result<MessageHeader, RespondError> {
        self.require(REQUEST_RESPONSE)?;
        if !self.is_open(request.connection) {
            return Err(RespondError::NotConnected(request.connection));
        }
        self.check_size(len)
            .map_err(|(size, max)| RespondError::TooLarge { size, max })?;
        Ok(MessageHeader {
            connection: request.connection,
            message: request.message,
            kind: MessageKind::Response,
            error,
            method_or_status: status,
        })
    }

    /// The checks of a wait for requests.
    pub(crate) fn check_serving(&self) -> Result<(), RecvRequestError> {
        Ok(self.require(REQUEST_RESPONSE)?)
    }
}

/// Fills `buffer` with `chunk` of the message of `header`, read from
/// `source`, and returns the packet to publish: the chunk, or the message's
/// abort (with `failed` set) if the source could not fill it.
pub(crate) fn fill_chunk(
    header: &MessageHeader,
    chunk: &ConnCopy,
    source: &mut dyn Read,
    buffer: &mut [u8],
    failed: &mut bool,
) -> Packet {
    let size = chunk.size as usize;
    match buffer.get_mut(..size).map(|b| source.read_exact(b)) {
        Some(Ok(())) => chunk.encode(),
        _ => {
            *failed = true;
            header.abort().encode()
        }
    }
}

/// Takes `size` bytes of `connection`'s send credit (`Some(true)`), or
/// `Some(false)` once the connection closed (no credit will come, and none
/// is kept for it); `None` (and `stalled` set) while the credit is short.
pub(crate) fn take_credit(
    inbox: &mut Inbox,
    connection: u64,
    size: u64,
    stalled: &mut bool,
) -> Option<bool> {
    if !inbox.connections.is_open(connection) {
        return Some(false);
    }
    if inbox.reserve_credit(connection, size) {
        return Some(true);
    }
    *stalled = true;
    None
}

/// Takes the oldest whole message on `connection`, or `NotConnected` once
/// it closed.
pub(crate) fn take_large(
    inbox: &mut Inbox,
    connection: u64,
) -> Option<Result<ReceivedMessage, RecvLargeError>> {
    match inbox.take_message(connection) {
        Some(message) => Some(Ok(ReceivedMessage {
            message: message.key.message,
            data: message.data,
        })),
        None => (!inbox.connections.is_open(connection))
            .then_some(Err(RecvLargeError::NotConnected(connection))),
    }
}

/// Takes the oldest stream event on `connection`, or `NotConnected` once
/// it closed.
pub(crate) fn take_stream(
    inbox: &mut Inbox,
    connection: u64,
) -> Option<Result<StreamEvent, RecvLargeError>> {
    match inbox.take_stream_event(connection) {
        Some(event) => Some(Ok(event)),
        None => (!inbox.connections.is_open(connection))
            .then_some(Err(RecvLargeError::NotConnected(connection))),
    }
}

/// Hands a stream `event` to `sink`; `Some` once the message ended (its id
/// and total, or why not).
pub(crate) fn stream_step(
    event: StreamEvent,
    sink: &mut dyn FnMut(u64, &[u8]),
) -> Option<Result<(u64, u64), RecvLargeError>> {
    match event {
        StreamEvent::Chunk {
            message,
            offset,
            total,
            data,
            last,
        } => {
            sink(offset, &data);
            last.then_some(Ok((message, total)))
        }
        StreamEvent::Aborted { message } => Some(Err(RecvLargeError::Aborted(message))),
    }
}

/// Takes the oldest request on `connection`; `Some(None)` once it closed.
pub(crate) fn take_request_on(inbox: &mut Inbox, connection: u64) -> Option<Option<Request>> {
    if let Some(request) = inbox.take_request(Some(connection)) {
        return Some(Some(request));
    }
    (!inbox.connections.is_open(connection)).then_some(None)
}
