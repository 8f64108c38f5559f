//! Receiving chunked messages: checking chunk order (`Sequencer`) and
//! assembling whole messages (`Reassembler`).
//!
//! Chunks are keyed by (connection id, message id, kind), so a request and
//! a response with the same ids, or messages of several connections, may
//! interleave. Within one message chunks must come in offset order with the
//! same total; the total is bounded before anything is allocated, and so
//! are the number of messages in progress and the bytes they reserve. Any
//! broken rule is a typed [`ReassemblyError`] and drops the message's
//! partial state; the caller counts it.

use std::time::{Duration, Instant};

use crate::advanced::budget::{Account, Budget, Overflow, ENTRY_BYTES};
use crate::advanced::chunking::MessageKind;
use crate::advanced::encryption::OpenInPlace;
use crate::advanced::idmap::IdMap;
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

/// Bounds on messages in progress (what they may hold is bounded by the
/// link's [`ReceiveBudget`](super::ReceiveBudget)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReassemblyLimits {
    /// Largest message accepted, in bytes (default 64 MiB, the Go bound).
    pub max_message_size: u64,
    /// Most messages in progress at once (default 64).
    pub max_partial_messages: usize,
    /// A message in progress that received no chunk for this long is
    /// evicted, counted, when room is needed or the link is idle (default
    /// 10 s): a peer that died mid-message does not hold memory forever.
    pub partial_idle: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_message_size: Limits::DEFAULT_MAX_MESSAGE_SIZE,
            max_partial_messages: 64,
            partial_idle: Duration::from_secs(10),
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
    /// The chunk does not fit the receive budget (its connection's or the
    /// link's); the message is dropped and the link answers
    /// `Error(BufferOverflow)`.
    #[error("message {key:?}: {bytes} more bytes do not fit; {in_use} of {max} bytes are held")]
    Overflow {
        /// The refused message.
        key: MessageKey,
        /// Bytes the chunk needed.
        bytes: u64,
        /// Bytes held already (by the connection or the link, whichever is full).
        in_use: u64,
        /// The bound that was hit.
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
            | ReassemblyError::Overflow { key, .. }
            | ReassemblyError::PayloadShort { key, .. }
            | ReassemblyError::Allocation { key, .. } => key,
        }
    }
}

/// What one accepted chunk means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Sequenced {
    /// A chunk of data, in order.
    Chunk(ChunkInfo),
    /// The message was aborted; whatever arrived of it is void.
    Aborted(MessageKey),
}

/// An in-order chunk of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ChunkInfo {
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
    /// When the message's last chunk arrived.
    active: Instant,
}

/// Checks the chunk order of interleaved messages without holding their data.
///
/// This is the streaming receive: each accepted chunk can be handed to the
/// caller as it arrives, so no memory grows with the message size.
#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    limits: ReassemblyLimits,
    progress: IdMap<MessageKey, Progress>,
}

impl Sequencer {
    /// A sequencer with `limits`.
    pub(crate) fn new(limits: ReassemblyLimits) -> Self {
        Sequencer {
            limits,
            progress: IdMap::default(),
        }
    }

    /// Messages in progress.
    pub(crate) fn in_progress(&self) -> usize {
        self.progress.len()
    }

    /// Checks `chunk` (already decoded, arrived at `now`) against its
    /// message's progress. On error the message's progress is dropped.
    pub(crate) fn accept(
        &mut self,
        chunk: &ConnCopy,
        now: Instant,
    ) -> Result<Sequenced, ReassemblyError> {
        let key = MessageKey::of(chunk);
        let result = self.step(key, chunk, now);
        if result.is_err() {
            self.progress.remove(&key);
        }
        result
    }

    fn begin(
        &mut self,
        key: MessageKey,
        chunk: &ConnCopy,
        now: Instant,
    ) -> Result<(), ReassemblyError> {
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
                error: chunk.chunk_flags.contains(FrameFlags::ERROR),
                active: now,
            },
        );
        Ok(())
    }

    fn step(
        &mut self,
        key: MessageKey,
        chunk: &ConnCopy,
        now: Instant,
    ) -> Result<Sequenced, ReassemblyError> {
        let flags = chunk.chunk_flags;
        if flags.contains(FrameFlags::ABORT) {
            self.progress.remove(&key);
            return Ok(Sequenced::Aborted(key));
        }
        let first = flags.contains(FrameFlags::BEGIN);
        if first {
            self.begin(key, chunk, now)?;
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
        progress.active = now;
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

    /// Forgets `key` (its message was refused elsewhere).
    pub(crate) fn forget(&mut self, key: &MessageKey) {
        self.progress.remove(key);
    }

    /// Drops the messages that received no chunk for
    /// [`ReassemblyLimits::partial_idle`] at `now`, and returns their keys.
    pub(crate) fn evict_idle(&mut self, now: Instant) -> Vec<MessageKey> {
        let idle = self.limits.partial_idle;
        let mut evicted = Vec::new();
        self.progress.retain(|key, progress| {
            let keep = now.saturating_duration_since(progress.active) < idle;
            if !keep {
                evicted.push(*key);
            }
            keep
        });
        evicted
    }

    /// Drops every message in progress on `connection` (it closed).
    pub(crate) fn drop_connection(&mut self, connection: u64) {
        self.progress.retain(|key, _| key.connection != connection);
    }
}

/// A whole received message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AssembledMessage {
    /// Which message it is.
    pub(crate) key: MessageKey,
    /// Method id (request) or status (response); 0 for plain messages.
    pub(crate) method_or_status: u64,
    /// The message is an error response.
    pub(crate) error: bool,
    /// The message's bytes.
    pub(crate) data: Vec<u8>,
    /// The message's size as sent (before any decompression).
    pub(crate) wire: u64,
    /// What the message holds of the receive budget (one entry and this
    /// many bytes of its [`Account`]); whoever drops it gives it back.
    pub(crate) charged: u64,
    /// A sealed message's frames opened so far (in `data`) as its chunks
    /// arrived; `None` if none was.
    pub(crate) opening: Option<OpenInPlace>,
}

impl AssembledMessage {
    /// The account the message is charged to.
    pub(crate) fn account(&self) -> Account {
        Account {
            connection: self.key.connection,
            kind: self.key.kind,
        }
    }
}

/// What [`Reassembler::accept`] made of a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Assembled {
    /// The message needs more chunks.
    Partial,
    /// The message is complete.
    Complete(AssembledMessage),
    /// The message was aborted and discarded.
    Aborted(MessageKey),
}

/// A message being assembled.
#[derive(Debug)]
struct Partial {
    data: Vec<u8>,
    /// Bytes charged to the budget for it (capacity plus bookkeeping).
    charged: u64,
    /// A sealed message's frames opened so far (see [`Reassembler::sealed_partial`]).
    opening: Option<OpenInPlace>,
}

/// The first reservation of a message: its total if that is small, else
/// room for a few chunks; it then doubles as chunks arrive (so memory
/// follows the data, not the announced total).
const FIRST_RESERVATION: u64 = 64 * 1024;

/// Assembles interleaved chunked messages into whole ones, charging what
/// they hold to a [`Budget`].
#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    sequencer: Sequencer,
    buffers: IdMap<MessageKey, Partial>,
}

impl Reassembler {
    /// A reassembler with `limits`.
    pub(crate) fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            sequencer: Sequencer::new(limits),
            buffers: IdMap::default(),
        }
    }

    /// Messages in progress.
    pub(crate) fn in_progress_count(&self) -> usize {
        self.sequencer.in_progress()
    }

    /// Takes `chunk` (arrived at `now`) with its `payload` (the slot's
    /// buffer; at least `chunk.size` bytes), charging what it holds to
    /// `budget`. On error the message is dropped.
    pub(crate) fn accept(
        &mut self,
        chunk: &ConnCopy,
        payload: PayloadView<'_>,
        budget: &mut Budget,
        now: Instant,
    ) -> Result<Assembled, ReassemblyError> {
        let key = MessageKey::of(chunk);
        let result = self.step(chunk, payload, budget, now);
        if result.is_err() {
            self.sequencer.forget(&key);
            self.release(&key, budget);
        }
        result
    }

    fn step(
        &mut self,
        chunk: &ConnCopy,
        payload: PayloadView<'_>,
        budget: &mut Budget,
        now: Instant,
    ) -> Result<Assembled, ReassemblyError> {
        let key = MessageKey::of(chunk);
        let size = usize::try_from(chunk.size)
            .ok()
            .filter(|&size| size <= payload.len())
            .ok_or(ReassemblyError::PayloadShort {
                key,
                size: chunk.size,
                available: payload.len(),
            })?;
        if let Some(whole) = self.whole_message(key, chunk, payload, size, budget)? {
            return Ok(whole);
        }
        let info = match self.sequencer.step(key, chunk, now)? {
            Sequenced::Aborted(key) => {
                self.release(&key, budget);
                return Ok(Assembled::Aborted(key));
            }
            Sequenced::Chunk(info) => info,
        };
        let account = Account {
            connection: key.connection,
            kind: key.kind,
        };
        if info.first {
            budget
                .charge(account, ENTRY_BYTES, 1)
                .map_err(|o| overflow(key, o))?;
            let partial = Partial {
                data: Vec::new(),
                charged: ENTRY_BYTES,
                opening: None,
            };
            self.buffers.insert(key, partial);
        }
        let Some(partial) = self.buffers.get_mut(&key) else {
            return Err(ReassemblyError::NotBegun { key });
        };
        grow(partial, &info, size, account, budget)?;
        if let Some(bytes) = payload.get(..size) {
            // The one copy out of the segment, into the reserved room.
            bytes.extend_vec(&mut partial.data);
        }
        if !info.last {
            return Ok(Assembled::Partial);
        }
        let Some(done) = self.buffers.remove(&key) else {
            return Err(ReassemblyError::NotBegun { key });
        };
        Ok(Assembled::Complete(AssembledMessage {
            key,
            method_or_status: info.method_or_status,
            error: info.error,
            wire: done.data.len() as u64,
            data: done.data,
            charged: done.charged,
            opening: done.opening,
        }))
    }

    /// A message in one chunk (Begin and End, or Begin with its whole
    /// total), taken without the in-progress tables: one lookup, one
    /// charge, one exact allocation and one copy. `None` for any other
    /// chunk, which the general path takes (and refuses where it must).
    fn whole_message(
        &mut self,
        key: MessageKey,
        chunk: &ConnCopy,
        payload: PayloadView<'_>,
        size: usize,
        budget: &mut Budget,
    ) -> Result<Option<Assembled>, ReassemblyError> {
        let flags = chunk.chunk_flags;
        let whole = flags.contains(FrameFlags::BEGIN)
            && !flags.contains(FrameFlags::ABORT)
            && chunk.offset == 0
            && (flags.contains(FrameFlags::END) || chunk.size == chunk.total)
            && chunk.total <= self.sequencer.limits.max_message_size
            && !self.sequencer.progress.contains_key(&key);
        let Some(bytes) = payload.get(..size).filter(|_| whole) else {
            return Ok(None);
        };
        let account = Account {
            connection: key.connection,
            kind: key.kind,
        };
        let charged = ENTRY_BYTES + chunk.size;
        budget
            .charge(account, charged, 1)
            .map_err(|o| overflow(key, o))?;
        let mut data = Vec::new();
        if data.try_reserve_exact(size).is_err() {
            budget.release(account, charged, 1);
            return Err(ReassemblyError::Allocation {
                key,
                total: chunk.total,
            });
        }
        bytes.extend_vec(&mut data);
        Ok(Some(Assembled::Complete(AssembledMessage {
            key,
            method_or_status: chunk.method_or_status,
            error: flags.contains(FrameFlags::ERROR),
            wire: data.len() as u64,
            data,
            charged,
            opening: None,
        })))
    }

    /// The bytes so far of the message `key` in progress, and the state
    /// of opening them (a sealed message is opened frame by frame as its
    /// chunks arrive, in its own buffer: the caller keeps the state here,
    /// so that it goes wherever the message goes).
    pub(crate) fn sealed_partial(
        &mut self,
        key: &MessageKey,
    ) -> Option<(&mut Vec<u8>, &mut Option<OpenInPlace>)> {
        self.buffers
            .get_mut(key)
            .map(|partial| (&mut partial.data, &mut partial.opening))
    }

    /// Drops the message `key` in progress (refused elsewhere) and gives
    /// back what it held of `budget`.
    pub(crate) fn drop_message(&mut self, key: &MessageKey, budget: &mut Budget) {
        self.sequencer.forget(key);
        self.release(key, budget);
    }

    fn release(&mut self, key: &MessageKey, budget: &mut Budget) {
        if let Some(partial) = self.buffers.remove(key) {
            let account = Account {
                connection: key.connection,
                kind: key.kind,
            };
            budget.release(account, partial.charged, 1);
        }
    }

    /// Drops the messages idle for [`ReassemblyLimits::partial_idle`] at
    /// `now`; returns how many.
    pub(crate) fn evict_idle(&mut self, now: Instant, budget: &mut Budget) -> usize {
        let evicted = self.sequencer.evict_idle(now);
        for key in &evicted {
            self.release(key, budget);
        }
        evicted.len()
    }

    /// Drops every message in progress on `connection` (it closed).
    pub(crate) fn drop_connection(&mut self, connection: u64, budget: &mut Budget) {
        self.sequencer.drop_connection(connection);
        let keys: Vec<MessageKey> = self
            .buffers
            .keys()
            .filter(|key| key.connection == connection)
            .copied()
            .collect();
        for key in keys {
            self.release(&key, budget);
        }
    }
}

fn overflow(key: MessageKey, o: Overflow) -> ReassemblyError {
    ReassemblyError::Overflow {
        key,
        bytes: o.bytes,
        in_use: o.in_use,
        max: o.max,
    }
}

/// Makes room for `size` more bytes in `partial`, charging the growth.
fn grow(
    partial: &mut Partial,
    info: &ChunkInfo,
    size: usize,
    account: Account,
    budget: &mut Budget,
) -> Result<(), ReassemblyError> {
    let key = info.key;
    let len = partial.data.len();
    let needed = len.saturating_add(size);
    let capacity = partial.data.capacity();
    if needed <= capacity {
        return Ok(());
    }
    // The sequencer bounded the total, so it fits a usize on 64-bit
    // targets; elsewhere a total above usize::MAX cannot be held at all.
    let total = usize::try_from(info.total).map_err(|_| ReassemblyError::Allocation {
        key,
        total: info.total,
    })?;
    let first = usize::try_from(FIRST_RESERVATION).unwrap_or(usize::MAX);
    let target = needed
        .max(capacity.saturating_mul(2))
        .max(first)
        .min(total)
        .max(needed);
    let more = (target - capacity) as u64;
    budget
        .charge(account, more, 0)
        .map_err(|o| overflow(key, o))?;
    partial.charged += more;
    partial
        .data
        .try_reserve_exact(target - len)
        .map_err(|_| ReassemblyError::Allocation {
            key,
            total: info.total,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advanced::budget::ReceiveBudget;
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

    /// A reassembler with its own budget.
    #[derive(Default)]
    struct Fixture {
        reassembler: Reassembler,
        budget: Budget,
    }

    impl Fixture {
        fn new(limits: ReassemblyLimits) -> Self {
            Fixture::with_budget(limits, ReceiveBudget::default())
        }

        fn with_budget(limits: ReassemblyLimits, budget: ReceiveBudget) -> Self {
            Fixture {
                reassembler: Reassembler::new(limits),
                budget: Budget::new(budget),
            }
        }

        fn accept(
            &mut self,
            chunk: &ConnCopy,
            payload: &[u8],
        ) -> Result<Assembled, ReassemblyError> {
            self.reassembler.accept(
                chunk,
                PayloadView::from_slice(payload),
                &mut self.budget,
                Instant::now(),
            )
        }

        fn in_progress(&self) -> usize {
            self.reassembler.in_progress_count()
        }

        /// Bytes held, not counting what completed messages took along.
        fn buffered_bytes(&self) -> u64 {
            self.budget.bytes()
        }

        fn drop_connection(&mut self, connection: u64) {
            self.reassembler
                .drop_connection(connection, &mut self.budget);
        }
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
        let mut reassembler = Fixture::default();
        let mut complete = Vec::new();
        for (chunk, bytes) in &chunks {
            if let Assembled::Complete(m) = reassembler.accept(chunk, bytes).unwrap() {
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
        // The completed messages carry their charges.
        let charged: u64 = complete.iter().map(|m| m.charged).sum();
        assert_eq!(reassembler.buffered_bytes(), charged);
        assert_eq!(reassembler.budget.entries(), 3);
    }

    #[test]
    fn oversized_total_is_refused_before_allocating() {
        let mut reassembler = Fixture::new(ReassemblyLimits {
            max_message_size: 100,
            ..ReassemblyLimits::default()
        });
        let chunk = header(0, 1, MessageKind::Plain)
            .chunks(101, 64)
            .next()
            .unwrap();
        assert!(matches!(
            reassembler.accept(&chunk, &[0; 64]),
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
            Fixture::default().accept(&huge, &[0; 64]),
            Err(ReassemblyError::TooLarge { .. })
        ));
    }

    #[test]
    fn out_of_order_and_overlapping_chunks_drop_the_message() {
        let d = data(300, 0);
        let chunks: Vec<ConnCopy> = header(0, 1, MessageKind::Plain).chunks(300, 64).collect();
        // Skipping a chunk.
        let mut r = Fixture::default();
        r.accept(&chunks[0], &slice(&d, &chunks[0])).unwrap();
        assert_eq!(
            r.accept(&chunks[2], &slice(&d, &chunks[2])),
            Err(ReassemblyError::OutOfOrder {
                key: MessageKey::of(&chunks[0]),
                expected: 64,
                found: 128
            })
        );
        assert_eq!((r.in_progress(), r.buffered_bytes()), (0, 0));
        // The rest of the dropped message is refused too.
        assert!(matches!(
            r.accept(&chunks[3], &slice(&d, &chunks[3])),
            Err(ReassemblyError::NotBegun { .. })
        ));
        // Overlapping: a chunk repeated.
        let mut r = Fixture::default();
        r.accept(&chunks[0], &slice(&d, &chunks[0])).unwrap();
        r.accept(&chunks[1], &slice(&d, &chunks[1])).unwrap();
        let mut overlap = chunks[2];
        overlap.offset = 100;
        assert!(matches!(
            r.accept(&overlap, &[0; 64]),
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
        let mut r = Fixture::default();
        assert!(matches!(
            r.accept(&chunks[1], &[0; 64]),
            Err(ReassemblyError::NotBegun { .. })
        ));
        // A request chunk does not continue a plain message with the same ids.
        r.accept(&chunks[0], &[0; 64]).unwrap();
        let mut other_kind = chunks[1];
        other_kind.chunk_flags |= FrameFlags::REQUEST;
        assert!(matches!(
            r.accept(&other_kind, &[0; 64]),
            Err(ReassemblyError::NotBegun { .. })
        ));
    }

    #[test]
    fn total_change_double_begin_and_short_payload() {
        let chunks: Vec<ConnCopy> = header(0, 1, MessageKind::Plain).chunks(300, 64).collect();
        let mut r = Fixture::default();
        r.accept(&chunks[0], &[0; 64]).unwrap();
        let mut changed = chunks[1];
        changed.total = 299;
        assert!(matches!(
            r.accept(&changed, &[0; 64]),
            Err(ReassemblyError::TotalChanged {
                expected: 300,
                found: 299,
                ..
            })
        ));
        r.accept(&chunks[0], &[0; 64]).unwrap();
        assert!(matches!(
            r.accept(&chunks[0], &[0; 64]),
            Err(ReassemblyError::AlreadyBegun { .. })
        ));
        assert!(matches!(
            r.accept(&chunks[0], &[0; 10]),
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
        let mut r = Fixture::default();
        r.accept(&chunks[0], &[0; 64]).unwrap();
        assert_eq!(
            r.accept(&h.abort(), &[]),
            Ok(Assembled::Aborted(MessageKey::of(&chunks[0])))
        );
        assert_eq!((r.in_progress(), r.buffered_bytes()), (0, 0));
        // The same ids can start over.
        for chunk in &chunks {
            r.accept(chunk, &[7; 64]).unwrap();
        }
    }

    #[test]
    fn partial_messages_and_held_bytes_are_bounded() {
        let limits = ReassemblyLimits {
            max_message_size: 100_000,
            max_partial_messages: 3,
            ..ReassemblyLimits::default()
        };
        let budget = ReceiveBudget {
            connection_bytes: 3000,
            ..ReceiveBudget::default()
        };
        let mut r = Fixture::with_budget(limits, budget);
        // Announcing a large total reserves only what fits the first
        // reservation and the budget; chunks are refused when they do not fit.
        let chunks: Vec<ConnCopy> = header(0, 1, MessageKind::Plain)
            .chunks(100_000, 1000)
            .collect();
        assert!(matches!(
            r.accept(&chunks[0], &[0; 1000]),
            Err(ReassemblyError::Overflow { max: 3000, .. })
        ));
        assert_eq!((r.in_progress(), r.buffered_bytes()), (0, 0));
        // Small messages grow with their chunks.
        let chunks: Vec<ConnCopy> = header(0, 2, MessageKind::Plain).chunks(2000, 500).collect();
        r.accept(&chunks[0], &[0; 500]).unwrap();
        assert_eq!(r.buffered_bytes(), 2000 + ENTRY_BYTES);
        for message in 3..=4 {
            let first = header(0, message, MessageKind::Plain)
                .chunks(10, 64)
                .next()
                .unwrap();
            let partial = ConnCopy {
                size: 5,
                chunk_flags: FrameFlags::BEGIN,
                ..first
            };
            r.accept(&partial, &[0; 5]).unwrap();
        }
        let fifth = header(0, 5, MessageKind::Plain)
            .chunks(100, 64)
            .next()
            .unwrap();
        assert!(matches!(
            r.accept(&fifth, &[0; 64]),
            Err(ReassemblyError::TooManyPartial { limit: 3, .. })
        ));
        // A message in one chunk never waits in progress, so the bound on
        // partial messages does not refuse it.
        let whole = header(0, 6, MessageKind::Plain)
            .chunks(10, 64)
            .next()
            .unwrap();
        let Ok(Assembled::Complete(done)) = r.accept(&whole, &[0; 64]) else {
            panic!("a one-chunk message completes");
        };
        r.drop_connection(0);
        // What is left is the completed message's, until it is taken.
        assert_eq!((r.in_progress(), r.buffered_bytes()), (0, done.charged));
    }

    #[test]
    fn idle_messages_are_evicted() {
        let limits = ReassemblyLimits {
            partial_idle: Duration::from_secs(1),
            ..ReassemblyLimits::default()
        };
        let mut r = Fixture::new(limits);
        let start = Instant::now();
        let chunks: Vec<ConnCopy> = header(0, 1, MessageKind::Plain).chunks(300, 64).collect();
        r.reassembler
            .accept(
                &chunks[0],
                PayloadView::from_slice(&[0; 64]),
                &mut r.budget,
                start,
            )
            .unwrap();
        let later = start + Duration::from_millis(900);
        r.reassembler
            .accept(
                &chunks[1],
                PayloadView::from_slice(&[0; 64]),
                &mut r.budget,
                later,
            )
            .unwrap();
        // Idle is counted from the last chunk.
        assert_eq!(
            r.reassembler
                .evict_idle(start + Duration::from_millis(1500), &mut r.budget),
            0
        );
        assert_eq!(
            r.reassembler
                .evict_idle(later + Duration::from_secs(1), &mut r.budget),
            1
        );
        assert_eq!((r.in_progress(), r.buffered_bytes()), (0, 0));
    }

    #[test]
    fn sequencer_streams_without_buffering() {
        let mut s = Sequencer::default();
        let h = header(1, 1, MessageKind::Response);
        let infos: Vec<ChunkInfo> = h
            .chunks(200, 64)
            .map(|c| match s.accept(&c, Instant::now()).unwrap() {
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
