//! Receiving chunked messages: checking chunk order ([`Sequencer`]) and
//! assembling whole messages ([`Reassembler`]).
//!
//! Chunks are keyed by (connection id, message id, kind), so a request and
//! a response with the same ids, or messages of several connections, may
//! interleave. Within one message chunks must come in offset order with the
//! same total; the total is bounded before anything is allocated, and so
//! are the number of messages in progress and the bytes they reserve. Any
//! broken rule is a typed [`ReassemblyError`] and drops the message's
//! partial state; the caller counts it.

use std::collections::HashMap;

use crate::advanced::chunking::MessageKind;
use crate::codec::Limits;
use crate::payload_view::PayloadView;
use crate::protocol::{ConnCopy, FrameFlags};

/// Which message a chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    /// Connection id (0 = link-level).
    pub connection: u64,
    /// The sender's message id.
    pub message: u64,
    /// Plain, request or response.
    pub kind: MessageKind,
}

impl MessageKey {
    /// The key of `chunk`.
    pub const fn of(chunk: &ConnCopy) -> MessageKey {
        MessageKey {
            connection: chunk.connection,
            message: chunk.message,
            kind: MessageKind::of(chunk.chunk_flags),
        }
    }
}

/// Bounds on what a receiver holds for messages in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReassemblyLimits {
    /// Largest message accepted, in bytes (default 64 MiB, the Go bound).
    pub max_message_size: u64,
    /// Most messages in progress at once (default 64).
    pub max_partial_messages: usize,
    /// Most bytes reserved for assembling messages at once (default 256 MiB).
    pub max_buffered_bytes: u64,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_message_size: Limits::DEFAULT_MAX_MESSAGE_SIZE,
            max_partial_messages: 64,
            max_buffered_bytes: 4 * Limits::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// Why a chunk was refused. The message it belongs to is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ReassemblyError {
    /// The message's total is above the bound.
    #[error("message {key:?} has {total} bytes, above the bound of {max}")]
    TooLarge {
        /// The message.
        key: MessageKey,
        /// Its announced total.
        total: u64,
        /// The bound.
        max: u64,
    },
    /// A chunk does not start where the previous one ended (out of order,
    /// overlapping or with a gap).
    #[error("message {key:?}: chunk at offset {found}, expected {expected}")]
    OutOfOrder {
        /// The message.
        key: MessageKey,
        /// The offset the next chunk must have.
        expected: u64,
        /// The chunk's offset.
        found: u64,
    },
    /// A chunk names another total than the message's first chunk.
    #[error("message {key:?}: chunk says total {found}, the first chunk said {expected}")]
    TotalChanged {
        /// The message.
        key: MessageKey,
        /// The first chunk's total.
        expected: u64,
        /// This chunk's total.
        found: u64,
    },
    /// A chunk without Begin for a message that never began.
    #[error("message {key:?}: chunk for a message that never began")]
    NotBegun {
        /// The message.
        key: MessageKey,
    },
    /// A Begin chunk for a message already in progress.
    #[error("message {key:?}: began again while in progress")]
    AlreadyBegun {
        /// The message.
        key: MessageKey,
    },
    /// A Begin chunk while the most messages are in progress already.
    #[error("message {key:?}: {limit} messages are in progress already")]
    TooManyPartial {
        /// The refused message.
        key: MessageKey,
        /// The bound.
        limit: usize,
    },
    /// A Begin chunk whose total does not fit the bytes left to reserve.
    #[error("message {key:?}: {total} bytes do not fit; {in_use} of {max} bytes are reserved")]
    BufferBudget {
        /// The refused message.
        key: MessageKey,
        /// Its total.
        total: u64,
        /// Bytes reserved by other messages.
        in_use: u64,
        /// The bound.
        max: u64,
    },
    /// The chunk's payload is shorter than its size operand.
    #[error("message {key:?}: chunk of {size} bytes, but only {available} in its buffer")]
    PayloadShort {
        /// The message.
        key: MessageKey,
        /// The chunk's size operand.
        size: u64,
        /// The payload bytes available.
        available: usize,
    },
    /// The allocator refused the message's buffer.
    #[error("message {key:?}: could not allocate {total} bytes")]
    Allocation {
        /// The message.
        key: MessageKey,
        /// Its total.
        total: u64,
    },
}

impl ReassemblyError {
    /// The message the refused chunk belongs to.
    pub const fn key(&self) -> MessageKey {
        match *self {
            ReassemblyError::TooLarge { key, .. }
            | ReassemblyError::OutOfOrder { key, .. }
            | ReassemblyError::TotalChanged { key, .. }
            | ReassemblyError::NotBegun { key }
            | ReassemblyError::AlreadyBegun { key }
            | ReassemblyError::TooManyPartial { key, .. }
            | ReassemblyError::BufferBudget { key, .. }
            | ReassemblyError::PayloadShort { key, .. }
            | ReassemblyError::Allocation { key, .. } => key,
        }
    }
}

/// What one accepted chunk means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sequenced {
    /// A chunk of data, in order.
    Chunk(ChunkInfo),
    /// The message was aborted; whatever arrived of it is void.
    Aborted(MessageKey),
}

/// An in-order chunk of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkInfo {
    /// The message.
    pub key: MessageKey,
    /// Offset of the chunk in the message.
    pub offset: u64,
    /// Bytes in the chunk.
    pub size: u64,
    /// The message's total size.
    pub total: u64,
    /// Method id or status from the message's first chunk.
    pub method_or_status: u64,
    /// The message is an error response.
    pub error: bool,
    /// This is the message's first chunk.
    pub first: bool,
    /// This is the message's last chunk.
    pub last: bool,
}

#[derive(Debug, Clone, Copy)]
struct Progress {
    total: u64,
    next_offset: u64,
    method_or_status: u64,
    error: bool,
}

/// Checks the chunk order of interleaved messages without holding their data.
///
/// This is the streaming receive: each accepted chunk can be handed to the
/// caller as it arrives, so no memory grows with the message size.
#[derive(Debug, Default)]
pub struct Sequencer {
    limits: ReassemblyLimits,
    progress: HashMap<MessageKey, Progress>,
}

impl Sequencer {
    /// A sequencer with `limits`.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Sequencer {
            limits,
            progress: HashMap::new(),
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> ReassemblyLimits {
        self.limits
    }

    /// Messages in progress.
    pub fn in_progress(&self) -> usize {
        self.progress.len()
    }

    /// Checks `chunk` (already decoded) against its message's progress.
    /// On error the message's progress is dropped.
    pub fn accept(&mut self, chunk: &ConnCopy) -> Result<Sequenced, ReassemblyError> {
        let key = MessageKey::of(chunk);
        let result = self.step(key, chunk);
        if result.is_err() {
            self.progress.remove(&key);
        }
        result
    }

    fn step(&mut self, key: MessageKey, chunk: &ConnCopy) -> Result<Sequenced, ReassemblyError> {
        let flags = chunk.chunk_flags;
        if flags.contains(FrameFlags::ABORT) {
            self.progress.remove(&key);
            return Ok(Sequenced::Aborted(key));
        }
        let first = flags.contains(FrameFlags::BEGIN);
        if first {
            if self.progress.contains_key(&key) {
                return Err(ReassemblyError::AlreadyBegun { key });
            }
            if chunk.total > self.limits.max_message_size {
                return Err(ReassemblyError::TooLarge {
                    key,
                    total: chunk.total,
                    max: self.limits.max_message_size,
                });
            }
            if self.progress.len() >= self.limits.max_partial_messages {
                return Err(ReassemblyError::TooManyPartial {
                    key,
                    limit: self.limits.max_partial_messages,
                });
            }
            self.progress.insert(
                key,
                Progress {
                    total: chunk.total,
                    next_offset: 0,
                    method_or_status: chunk.method_or_status,
                    error: flags.contains(FrameFlags::ERROR),
                },
            );
        }
        let Some(progress) = self.progress.get_mut(&key) else {
            return Err(ReassemblyError::NotBegun { key });
        };
        if chunk.total != progress.total {
            return Err(ReassemblyError::TotalChanged {
                key,
                expected: progress.total,
                found: chunk.total,
            });
        }
        if chunk.offset != progress.next_offset {
            return Err(ReassemblyError::OutOfOrder {
                key,
                expected: progress.next_offset,
                found: chunk.offset,
            });
        }
        // Decoding guarantees offset + size <= total, so this cannot overflow.
        progress.next_offset = chunk.offset + chunk.size;
        let last = flags.contains(FrameFlags::END) || progress.next_offset == progress.total;
        let info = ChunkInfo {
            key,
            offset: chunk.offset,
            size: chunk.size,
            total: progress.total,
            method_or_status: progress.method_or_status,
            error: progress.error,
            first,
            last,
        };
        if last {
            self.progress.remove(&key);
        }
        Ok(Sequenced::Chunk(info))
    }

    /// Drops every message in progress on `connection` (it closed).
    pub fn drop_connection(&mut self, connection: u64) {
        self.progress.retain(|key, _| key.connection != connection);
    }
}

/// A whole received message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssembledMessage {
    /// Which message it is.
    pub key: MessageKey,
    /// Method id (request) or status (response); 0 for plain messages.
    pub method_or_status: u64,
    /// The message is an error response.
    pub error: bool,
    /// The message's bytes.
    pub data: Vec<u8>,
}

/// What [`Reassembler::accept`] made of a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Assembled {
    /// The message needs more chunks.
    Partial,
    /// The message is complete.
    Complete(AssembledMessage),
    /// The message was aborted and discarded.
    Aborted(MessageKey),
}

/// Assembles interleaved chunked messages into whole ones.
///
/// ```
/// use hqq_runtime::advanced::{Assembled, MessageHeader, MessageKind, Reassembler};
/// use hqq_runtime::PayloadView;
///
/// let data: Vec<u8> = (0..150u8).collect();
/// let header = MessageHeader {
///     connection: 0, message: 1, kind: MessageKind::Plain, error: false, method_or_status: 0,
/// };
/// let mut reassembler = Reassembler::default();
/// let mut done = None;
/// for chunk in header.chunks(150, 64) {
///     let bytes = &data[chunk.offset as usize..(chunk.offset + chunk.size) as usize];
///     if let Assembled::Complete(message) = reassembler.accept(&chunk, PayloadView::from_slice(bytes)).unwrap() {
///         done = Some(message.data);
///     }
/// }
/// assert_eq!(done, Some(data));
/// ```
#[derive(Debug, Default)]
pub struct Reassembler {
    sequencer: Sequencer,
    /// Each message's bytes so far and the bytes reserved for it.
    buffers: HashMap<MessageKey, (Vec<u8>, u64)>,
    buffered_bytes: u64,
}

impl Reassembler {
    /// A reassembler with `limits`.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            sequencer: Sequencer::new(limits),
            buffers: HashMap::new(),
            buffered_bytes: 0,
        }
    }

    /// Messages in progress.
    pub fn in_progress(&self) -> usize {
        self.sequencer.in_progress()
    }

    /// Bytes reserved for messages in progress.
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered_bytes
    }

    /// Takes `chunk` with its `payload` (the slot's buffer; at least
    /// `chunk.size` bytes). On error the message is dropped.
    pub fn accept(
        &mut self,
        chunk: &ConnCopy,
        payload: PayloadView<'_>,
    ) -> Result<Assembled, ReassemblyError> {
        let key = MessageKey::of(chunk);
        let result = self.step(chunk, payload);
        if result.is_err() {
            self.sequencer.progress.remove(&key);
            self.release(&key);
        }
        result
    }

    fn step(
        &mut self,
        chunk: &ConnCopy,
        payload: PayloadView<'_>,
    ) -> Result<Assembled, ReassemblyError> {
        let key = MessageKey::of(chunk);
        let bytes = usize::try_from(chunk.size)
            .ok()
            .and_then(|size| payload.get(..size))
            .ok_or(ReassemblyError::PayloadShort {
                key,
                size: chunk.size,
                available: payload.len(),
            })?;
        let begins = chunk.chunk_flags.contains(FrameFlags::BEGIN)
            && !chunk.chunk_flags.contains(FrameFlags::ABORT);
        let limits = self.sequencer.limits;
        if begins
            && !self.sequencer.progress.contains_key(&key)
            && chunk.total <= limits.max_message_size
            && self.buffered_bytes + chunk.total > limits.max_buffered_bytes
        {
            return Err(ReassemblyError::BufferBudget {
                key,
                total: chunk.total,
                in_use: self.buffered_bytes,
                max: limits.max_buffered_bytes,
            });
        }
        let info = match self.sequencer.step(key, chunk)? {
            Sequenced::Aborted(key) => {
                self.release(&key);
                return Ok(Assembled::Aborted(key));
            }
            Sequenced::Chunk(info) => info,
        };
        if info.first {
            // The sequencer bounded the total; reserve it all now.
            let mut buffer = Vec::new();
            usize::try_from(info.total)
                .ok()
                .and_then(|total| buffer.try_reserve_exact(total).ok())
                .ok_or(ReassemblyError::Allocation {
                    key,
                    total: info.total,
                })?;
            self.buffered_bytes += info.total;
            self.buffers.insert(key, (buffer, info.total));
        }
        let Some((buffer, _)) = self.buffers.get_mut(&key) else {
            return Err(ReassemblyError::NotBegun { key });
        };
        bytes.extend_vec(buffer);
        if !info.last {
            return Ok(Assembled::Partial);
        }
        let data = self.release(&key).unwrap_or_default();
        Ok(Assembled::Complete(AssembledMessage {
            key,
            method_or_status: info.method_or_status,
            error: info.error,
            data,
        }))
    }

    fn release(&mut self, key: &MessageKey) -> Option<Vec<u8>> {
        let (buffer, reserved) = self.buffers.remove(key)?;
        self.buffered_bytes -= reserved;
        Some(buffer)
    }

    /// Drops every message in progress on `connection` (it closed).
    pub fn drop_connection(&mut self, connection: u64) {
        self.sequencer.drop_connection(connection);
        let keys: Vec<MessageKey> = self
            .buffers
            .keys()
            .filter(|key| key.connection == connection)
            .copied()
            .collect();
        for key in keys {
            self.release(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advanced::chunking::MessageHeader;

    fn header(connection: u64, message: u64, kind: MessageKind) -> MessageHeader {
        MessageHeader {
            connection,
            message,
            kind,
            error: false,
            method_or_status: if kind == MessageKind::Plain { 0 } else { 42 },
        }
    }

    fn data(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn slice(data: &[u8], chunk: &ConnCopy) -> Vec<u8> {
        data[chunk.offset as usize..(chunk.offset + chunk.size) as usize].to_vec()
    }

    #[test]
    fn interleaved_messages_assemble_by_key() {
        let a = data(1000, 1);
        let b = data(333, 2);
        let c = data(0, 3);
        let ha = header(1, 1, MessageKind::Request);
        let hb = header(1, 1, MessageKind::Response);
        let hc = header(2, 1, MessageKind::Plain);
        let mut chunks: Vec<(ConnCopy, Vec<u8>)> = Vec::new();
        let ca: Vec<ConnCopy> = ha.chunks(1000, 64).collect();
        let cb: Vec<ConnCopy> = hb.chunks(333, 64).collect();
        let cc: Vec<ConnCopy> = hc.chunks(0, 64).collect();
        for (i, chunk) in ca.iter().enumerate() {
            chunks.push((*chunk, slice(&a, chunk)));
            if let Some(chunk) = cb.get(i) {
                chunks.push((*chunk, slice(&b, chunk)));
            }
            if let Some(chunk) = cc.get(i) {
                chunks.push((*chunk, slice(&c, chunk)));
            }
        }
        let mut reassembler = Reassembler::default();
        let mut complete = Vec::new();
        for (chunk, bytes) in &chunks {
            if let Assembled::Complete(m) = reassembler
                .accept(chunk, PayloadView::from_slice(bytes))
                .unwrap()
            {
                complete.push(m);
            }
        }
        complete.sort_by_key(|m| m.key);
        assert_eq!(complete.len(), 3);
        assert_eq!(complete[0].data, a);
        assert_eq!(complete[0].method_or_status, 42);
        assert_eq!(complete[1].data, b);
        assert_eq!(complete[2].data, c);
        assert_eq!(reassembler.in_progress(), 0);
        assert_eq!(reassembler.buffered_bytes(), 0);
    }

    #[test]
    fn oversized_total_is_refused_before_allocating() {
        let mut reassembler = Reassembler::new(ReassemblyLimits {
            max_message_size: 100,
            ..ReassemblyLimits::default()
        });
        let chunk = header(0, 1, MessageKind::Plain)
            .chunks(101, 64)
            .next()
            .unwrap();
        assert!(matches!(
            reassembler.accept(&chunk, PayloadView::from_slice(&[0; 64])),
            Err(ReassemblyError::TooLarge {
                total: 101,
                max: 100,
                ..
            })
        ));
        assert_eq!(reassembler.buffered_bytes(), 0);
        // The default bound is the Go one: 64 MiB.
        let huge = header(0, 2, MessageKind::Plain)
            .chunks(Limits::DEFAULT_MAX_MESSAGE_SIZE + 1, 64)
            .next()
            .unwrap();
        assert!(matches!(
            Reassembler::default().accept(&huge, PayloadView::from_slice(&[0; 64])),
            Err(ReassemblyError::TooLarge { .. })
        ));
    }

    #[test]
    fn out_of_order_and_overlapping_chunks_drop_the_message() {
        let d = data(300, 0);
        let chunks: Vec<ConnCopy> = header(0, 1, MessageKind::Plain).chunks(300, 64).collect();
        // Skipping a chunk.
        let mut r = Reassembler::default();
        r.accept(&chunks[0], PayloadView::from_slice(&slice(&d, &chunks[0])))
            .unwrap();
        assert_eq!(
            r.accept(&chunks[2], PayloadView::from_slice(&slice(&d, &chunks[2]))),
            Err(ReassemblyError::OutOfOrder {
                key: MessageKey::of(&chunks[0]),
                expected: 64,
                found: 128
            })
        );
        assert_eq!((r.in_progress(), r.buffered_bytes()), (0, 0));
        // The rest of the dropped message is refused too.
        assert!(matches!(
            r.accept(&chunks[3], PayloadView::from_slice(&slice(&d, &chunks[3]))),
            Err(ReassemblyError::NotBegun { .. })
        ));
        // Overlapping: a chunk repeated.
        let mut r = Reassembler::default();
        r.accept(&chunks[0], PayloadView::from_slice(&slice(&d, &chunks[0])))
            .unwrap();
        r.accept(&chunks[1], PayloadView::from_slice(&slice(&d, &chunks[1])))
            .unwrap();
        let mut overlap = chunks[2];
        overlap.offset = 100;
        assert!(matches!(
            r.accept(&overlap, PayloadView::from_slice(&[0; 64])),
            Err(ReassemblyError::OutOfOrder {
                expected: 128,
                found: 100,
                ..
            })
        ));
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn chunk_for_a_message_that_never_began() {
        let chunks: Vec<ConnCopy> = header(0, 5, MessageKind::Plain).chunks(300, 64).collect();
        let mut r = Reassembler::default();
        assert!(matches!(
            r.accept(&chunks[1], PayloadView::from_slice(&[0; 64])),
            Err(ReassemblyError::NotBegun { .. })
        ));
        // A request chunk does not continue a plain message with the same ids.
        r.accept(&chunks[0], PayloadView::from_slice(&[0; 64]))
            .unwrap();
        let mut other_kind = chunks[1];
        other_kind.chunk_flags |= FrameFlags::REQUEST;
        assert!(matches!(
            r.accept(&other_kind, PayloadView::from_slice(&[0; 64])),
            Err(ReassemblyError::NotBegun { .. })
        ));
    }

    #[test]
    fn total_change_double_begin_and_short_payload() {
        let chunks: Vec<ConnCopy> = header(0, 1, MessageKind::Plain).chunks(300, 64).collect();
        let mut r = Reassembler::default();
        r.accept(&chunks[0], PayloadView::from_slice(&[0; 64]))
            .unwrap();
        let mut changed = chunks[1];
        changed.total = 299;
        assert!(matches!(
            r.accept(&changed, PayloadView::from_slice(&[0; 64])),
            Err(ReassemblyError::TotalChanged {
                expected: 300,
                found: 299,
                ..
            })
        ));
        r.accept(&chunks[0], PayloadView::from_slice(&[0; 64]))
            .unwrap();
        assert!(matches!(
            r.accept(&chunks[0], PayloadView::from_slice(&[0; 64])),
            Err(ReassemblyError::AlreadyBegun { .. })
        ));
        assert!(matches!(
            r.accept(&chunks[0], PayloadView::from_slice(&[0; 10])),
            Err(ReassemblyError::PayloadShort {
                size: 64,
                available: 10,
                ..
            })
        ));
        assert_eq!((r.in_progress(), r.buffered_bytes()), (0, 0));
    }

    #[test]
    fn abort_discards() {
        let h = header(4, 1, MessageKind::Plain);
        let chunks: Vec<ConnCopy> = h.chunks(300, 64).collect();
        let mut r = Reassembler::default();
        r.accept(&chunks[0], PayloadView::from_slice(&[0; 64]))
            .unwrap();
        assert_eq!(
            r.accept(&h.abort(), PayloadView::from_slice(&[])),
            Ok(Assembled::Aborted(MessageKey::of(&chunks[0])))
        );
        assert_eq!((r.in_progress(), r.buffered_bytes()), (0, 0));
        // The same ids can start over.
        for chunk in &chunks {
            r.accept(chunk, PayloadView::from_slice(&[7; 64])).unwrap();
        }
    }

    #[test]
    fn partial_messages_and_reserved_bytes_are_bounded() {
        let limits = ReassemblyLimits {
            max_message_size: 1000,
            max_partial_messages: 3,
            max_buffered_bytes: 2500,
        };
        let mut r = Reassembler::new(limits);
        for message in 1..=2 {
            let first = header(0, message, MessageKind::Plain)
                .chunks(1000, 64)
                .next()
                .unwrap();
            r.accept(&first, PayloadView::from_slice(&[0; 64])).unwrap();
        }
        let third = header(0, 3, MessageKind::Plain)
            .chunks(1000, 64)
            .next()
            .unwrap();
        assert!(matches!(
            r.accept(&third, PayloadView::from_slice(&[0; 64])),
            Err(ReassemblyError::BufferBudget {
                total: 1000,
                in_use: 2000,
                max: 2500,
                ..
            })
        ));
        let small = header(0, 4, MessageKind::Plain)
            .chunks(100, 64)
            .next()
            .unwrap();
        r.accept(&small, PayloadView::from_slice(&[0; 64])).unwrap();
        let fourth = header(0, 5, MessageKind::Plain)
            .chunks(10, 64)
            .next()
            .unwrap();
        assert!(matches!(
            r.accept(&fourth, PayloadView::from_slice(&[0; 64])),
            Err(ReassemblyError::TooManyPartial { limit: 3, .. })
        ));
        r.drop_connection(0);
        assert_eq!((r.in_progress(), r.buffered_bytes()), (0, 0));
    }

    #[test]
    fn sequencer_streams_without_buffering() {
        let mut s = Sequencer::default();
        let h = header(1, 1, MessageKind::Response);
        let infos: Vec<ChunkInfo> = h
            .chunks(200, 64)
            .map(|c| match s.accept(&c).unwrap() {
                Sequenced::Chunk(info) => info,
                Sequenced::Aborted(_) => panic!("not aborted"),
            })
            .collect();
        assert_eq!(infos.len(), 4);
        assert!(infos[0].first && !infos[0].last);
        assert!(infos[3].last);
        assert!(infos
            .iter()
            .all(|i| i.method_or_status == 42 && i.total == 200));
        assert_eq!(s.in_progress(), 0);
    }
}
