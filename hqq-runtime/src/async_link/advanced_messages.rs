//! The message operations of [`AsyncAdvancedLink`]: large and streamed
//! messages, calls, requests and responses.

use std::future::poll_fn;
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::AsyncRead;

use crate::advanced::chunking::MessageHeader;
use crate::advanced::messages::{
    fill_chunk, stream_step, take_credit, take_large, take_request_on, take_stream,
};
use crate::advanced::{
    CallError, ReceivedMessage, RecvLargeError, RecvRequestError, Request, RespondError, Response,
    SendLargeError, TransportError,
};
use crate::protocol::{Features, FrameFlags};

use super::advanced::{AsyncAdvancedLink, Undo};
use super::message_source::{MessageSource, Plain};

/// Where a message's plain bytes come from.
enum Bytes<'a> {
    Slice(&'a [u8]),
    Reader(&'a mut (dyn AsyncRead + Send + Unpin)),
}

impl AsyncAdvancedLink {
    /// Sends the message of `header` (its bytes `wire`, `flags` on every
    /// chunk) chunk by chunk, waiting while the ring is full. Dropped or
    /// failing after its first chunk, it aborts the message.
    async fn send_message(
        &self,
        header: MessageHeader,
        wire: &[u8],
        flags: FrameFlags,
    ) -> Result<(), TransportError> {
        let total = wire.len() as u64;
        // A slice never fails to fill a chunk.
        self.send_from(header, total, Bytes::Slice(wire), flags)
            .await
            .map(drop)
    }

    /// Sends the `total` bytes of the message of `header` from `bytes`
    /// (`flags` on every chunk), sealed as the blocking link seals them
    /// once Encryption is negotiated. Returns `Some(sent)` if the source
    /// failed after `sent` bytes (see [`send_chunks`](Self::send_chunks)).
    async fn send_from(
        &self,
        header: MessageHeader,
        total: u64,
        bytes: Bytes<'_>,
        flags: FrameFlags,
    ) -> Result<Option<u64>, TransportError> {
        let link = self.get_ref();
        let Some(sealing) = link.sealing(&header, total, flags) else {
            let mut source = match bytes {
                Bytes::Slice(wire) => MessageSource::Slice(wire),
                Bytes::Reader(reader) => MessageSource::reader(reader),
            };
            return self.send_chunks(header, total, &mut source, flags).await;
        };
        let (plain, reader) = match bytes {
            Bytes::Slice(wire) if link.one_chunk(sealing.binding.total) => {
                // Sealed whole first, as the blocking link does: one exact
                // buffer, no per-frame state, one copy into the slot.
                let whole = sealing
                    .sealer
                    .seal_whole(&sealing.binding, wire, <[u8]>::to_vec);
                if let Some((sealed, nanos)) = whole {
                    let mut source = MessageSource::Slice(&sealed);
                    let outcome = self
                        .send_chunks(header, sealing.binding.total, &mut source, sealing.flags)
                        .await;
                    if let Ok(None) = outcome {
                        link.counters.sealed(total, nanos);
                    }
                    return outcome;
                }
                (Plain::Slice(wire), None)
            }
            Bytes::Slice(wire) => (Plain::Slice(wire), None),
            Bytes::Reader(reader) => {
                let reader: &mut (dyn AsyncRead + Send + Unpin) = reader;
                (Plain::Frame(Cursor::default()), Some(reader))
            }
        };
        let sealed = sealing.sealer.seal(&sealing.binding, plain, total);
        let mut source = MessageSource::sealed(sealed, reader);
        let wire = sealing.binding.total;
        let outcome = self
            .send_chunks(header, wire, &mut source, sealing.flags)
            .await;
        if let Ok(None) = outcome {
            link.counters.sealed(total, source.seal_nanos());
        }
        outcome
    }

    /// Sends the `total` bytes of the message of `header` from `source`
    /// chunk by chunk (`flags` on every chunk), waiting while the ring is
    /// full. Returns `Some(sent)` if the source failed after `sent` bytes
    /// (the message is then aborted, as when this future is dropped or
    /// sending fails after the first chunk).
    async fn send_chunks(
        &self,
        header: MessageHeader,
        total: u64,
        source: &mut MessageSource<'_>,
        flags: FrameFlags,
    ) -> Result<Option<u64>, TransportError> {
        let link = self.get_ref();
        // Queued notices (aborts of cancelled sends) go out first.
        link.flush_replies();
        let started = AtomicBool::new(false);
        let mut abort = Undo::new(|| {
            if started.load(Ordering::Relaxed) {
                link.abort_message(&header);
            }
        });
        let began = std::time::Instant::now();
        let flow = link.granted(Features::FLOW_CONTROL);
        for mut chunk in header.chunks(total, link.chunk_size(flow)) {
            chunk.chunk_flags |= flags;
            let size = usize::try_from(chunk.size).unwrap_or(usize::MAX);
            if poll_fn(|cx| source.poll_stage(cx, size)).await.is_err() {
                return Ok(Some(chunk.offset));
            }
            let credited = flow && chunk.size != 0;
            if credited {
                self.wait_for_credit(chunk.connection, chunk.size).await?;
            }
            // Credit taken for a chunk that is not sent (failed, or this
            // future dropped while the ring is full) is given back.
            let mut refund = Undo::new(|| {
                if credited {
                    link.refund_credit(chunk.connection, chunk.size);
                }
            });
            let mut staged = source.staged(chunk.offset);
            // The staged bytes hold the whole chunk: filling never fails.
            let mut failed = false;
            self.send_packet_with(|buffer| {
                fill_chunk(&header, &chunk, &mut staged, buffer, &mut failed)
            })
            .await?;
            refund.disarm();
            source.sent();
            started.store(true, Ordering::Relaxed);
            link.counters.chunk_sent();
        }
        abort.disarm();
        link.counters
            .message_sent(header.connection, total, began.elapsed());
        Ok(None)
    }

    /// Waits for `size` bytes of `connection`'s credit (FlowControl), as
    /// the blocking send path does: the credit is taken only in the poll
    /// that returns, so a dropped wait took none.
    async fn wait_for_credit(&self, connection: u64, size: u64) -> Result<(), TransportError> {
        let mut stalled = false;
        let credited = self
            .wait_for(None, |inbox| {
                take_credit(inbox, connection, size, &mut stalled)
            })
            .await;
        self.get_ref().credit_outcome(credited, stalled)
    }

    /// Sends `data` as one message on `connection` (0 = the link itself).
    /// Returns the message id. See [`AdvancedLink::send_large`](crate::advanced::AdvancedLink::send_large).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe in effect: a message goes out chunk by chunk, and if the
    /// future is dropped after the first chunk the message is aborted (an
    /// Abort chunk is sent, or queued with the replies while the ring is
    /// full), so the peer drops what it got and delivers nothing. The
    /// message is then not sent. With FlowControl, a chunk waiting for its
    /// connection's credit (or holding credit while it waits for room in
    /// the ring) when the future is dropped is not sent and its credit is
    /// given back; the message's earlier chunks are aborted as above, so
    /// no half message is left either way.
    pub async fn send_large(&self, connection: u64, data: &[u8]) -> Result<u64, SendLargeError> {
        let link = self.get_ref();
        let header = link.plain_header(connection, data.len() as u64)?;
        let (wire, flags) = link.compressed(data);
        self.send_message(header, &wire, flags)
            .await
            .map_err(|e| link.send_failure(connection, e))?;
        Ok(header.message)
    }

    /// Sends `total` bytes read from `source` as one message on
    /// `connection`, one buffer at a time (the message never sits whole in
    /// memory; it is not compressed). Returns the message id; a source
    /// that fails or ends early aborts the message
    /// ([`SendLargeError::SourceFailed`]). See
    /// [`AdvancedLink::send_large_from`](crate::advanced::AdvancedLink::send_large_from).
    ///
    /// # Cancel safety
    ///
    /// The message is cancel-safe as [`send_large`](Self::send_large)'s is
    /// (dropped after its first chunk, it is aborted), but the source is
    /// not: bytes read from it and not yet sent are lost, and the message is
    /// not sent.
    pub async fn send_large_from(
        &self,
        connection: u64,
        source: &mut (dyn AsyncRead + Send + Unpin),
        total: u64,
    ) -> Result<u64, SendLargeError> {
        let link = self.get_ref();
        let header = link.plain_header(connection, total)?;
        match self
            .send_from(header, total, Bytes::Reader(source), FrameFlags::empty())
            .await
        {
            Ok(None) => Ok(header.message),
            Ok(Some(sent)) => Err(SendLargeError::SourceFailed { sent, total }),
            Err(e) => Err(link.send_failure(connection, e)),
        }
    }

    /// Waits for the next whole message on `connection`; `NotConnected`
    /// once the connection closed. See
    /// [`AdvancedLink::recv_large`](crate::advanced::AdvancedLink::recv_large).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a message is taken only in the poll that returns it, so
    /// a dropped future took nothing.
    pub async fn recv_large(&self, connection: u64) -> Result<ReceivedMessage, RecvLargeError> {
        self.get_ref().check_recv(connection)?;
        self.wait_for(None, |inbox| take_large(inbox, connection))
            .await?
    }

    /// Receives the next message on a streaming `connection` (see
    /// [`AdvancedLink::set_streaming`](crate::advanced::AdvancedLink::set_streaming)),
    /// calling `sink(offset, chunk)` for each chunk as it arrives. Returns
    /// the message id and total.
    ///
    /// # Cancel safety
    ///
    /// Each chunk is taken in the poll that hands it to `sink`. If the
    /// future is dropped part-way, the chunks given to `sink` are gone and
    /// the rest of the message stays queued: the next call continues it.
    pub async fn recv_stream(
        &self,
        connection: u64,
        mut sink: impl FnMut(u64, &[u8]),
    ) -> Result<(u64, u64), RecvLargeError> {
        self.get_ref().check_recv(connection)?;
        loop {
            let event = self
                .wait_for(None, |inbox| take_stream(inbox, connection))
                .await??;
            if let Some(end) = stream_step(event, &mut sink) {
                return end;
            }
        }
    }

    /// Calls `method` on the link itself (connection 0) with `request` and
    /// waits for the response.
    ///
    /// # Cancel safety
    ///
    /// As [`call_on`](Self::call_on).
    pub async fn call(&self, method: u64, request: &[u8]) -> Result<Response, CallError> {
        self.call_on(0, method, request).await
    }

    /// Calls `method` on `connection` with `request` and waits for the
    /// response. Any number of tasks may call at once; each is woken by
    /// its own response only.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe in effect: dropped while the request goes out, the
    /// request is aborted as by [`send_large`](Self::send_large) (the
    /// server never sees it); dropped after, the call is given up and a
    /// late response is dropped (and counted) as for a call that timed out.
    /// Either way nothing of the call stays registered.
    pub async fn call_on(
        &self,
        connection: u64,
        method: u64,
        request: &[u8],
    ) -> Result<Response, CallError> {
        let link = self.get_ref();
        let (key, header) = link.start_call(connection, method, request.len() as u64)?;
        let mut cancel = Undo::new(|| link.cancel_call(key));
        let started = std::time::Instant::now();
        let (wire, flags) = link.compressed(request);
        self.send_message(header, &wire, flags).await?;
        let outcome = self
            .wait_for(Some(key), |inbox| inbox.take_call(key))
            .await?;
        cancel.disarm();
        link.counters.call_answered(started.elapsed());
        Ok(outcome?)
    }

    /// Waits for the next request (on any connection) to serve.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a request is taken only in the poll that returns it.
    pub async fn recv_request(&self) -> Result<Request, RecvRequestError> {
        self.get_ref().check_serving()?;
        Ok(self
            .wait_for(None, |inbox| inbox.take_request(None))
            .await?)
    }

    /// Waits for the next request on `connection`; `Ok(None)` once the
    /// connection closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a request is taken only in the poll that returns it.
    pub async fn recv_request_on(
        &self,
        connection: u64,
    ) -> Result<Option<Request>, RecvRequestError> {
        self.get_ref().check_serving()?;
        Ok(self
            .wait_for(None, |inbox| take_request_on(inbox, connection))
            .await?)
    }

    /// Answers `request` with `response` and status 0.
    ///
    /// # Cancel safety
    ///
    /// As [`respond_with`](Self::respond_with).
    pub async fn respond(&self, request: &Request, response: &[u8]) -> Result<(), RespondError> {
        self.respond_with(request, 0, false, response).await
    }

    /// Answers `request` with an error response carrying `status` and
    /// `detail` bytes.
    ///
    /// # Cancel safety
    ///
    /// As [`respond_with`](Self::respond_with).
    pub async fn respond_error(
        &self,
        request: &Request,
        status: u64,
        detail: &[u8],
    ) -> Result<(), RespondError> {
        self.respond_with(request, status, true, detail).await
    }

    /// Answers `request` with `status`, the Error flag if `error`, and
    /// `data`, waiting while the ring is full.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe in effect: dropped part-way, the response is aborted as
    /// by [`send_large`](Self::send_large), so the caller gets none (its
    /// call ends at its own timeout or cancellation).
    pub async fn respond_with(
        &self,
        request: &Request,
        status: u64,
        error: bool,
        data: &[u8],
    ) -> Result<(), RespondError> {
        let link = self.get_ref();
        let header = link.response_header(request, status, error, data.len() as u64)?;
        let (wire, flags) = link.compressed(data);
        self.send_message(header, &wire, flags)
            .await
            .map_err(|e| link.respond_failure(request.connection, e))
    }
}
