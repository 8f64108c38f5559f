//! Counters of an Advanced link.
//!
//! Counters are relaxed atomics in the link's [`Statistics`] block (shared
//! with the Standard link below, and published with it if asked): each is
//! exact on its own, a snapshot of several is not taken at one instant.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::advanced::inbox::InboxEvents;
use crate::stats::block::{StatBlock, FLAG_ADVANCED};
use crate::stats::{ConnectionStats, Latencies, Statistics};

/// A snapshot of an Advanced link's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct AdvancedStats {
    /// How long the negotiation took (zero before it finished).
    pub negotiation_time: Duration,
    /// Whole messages sent (plain, requests and responses).
    pub messages_sent: u64,
    /// Whole messages received.
    pub messages_received: u64,
    /// Message bytes sent.
    pub bytes_sent: u64,
    /// Message bytes received.
    pub bytes_received: u64,
    /// ConnCopy chunks sent.
    pub chunks_sent: u64,
    /// ConnCopy chunks received.
    pub chunks_received: u64,
    /// Messages aborted (sent or received Abort chunks).
    pub aborts: u64,
    /// Bad input from the peer and refused operations (each a typed error).
    pub errors: u64,
    /// Error packets received from the peer.
    pub peer_errors: u64,
    /// The most calls that were pending at once.
    pub pending_calls_high_water: u64,
    /// Messages refused because the receive budget was full (each answered
    /// with `Error(BufferOverflow)`).
    pub overflows: u64,
    /// Partial messages evicted after they were idle too long.
    pub partials_evicted: u64,
    /// Replies (Error packets) dropped because the peer did not drain its
    /// ring and the reply queue was full.
    pub replies_dropped: u64,
    /// Bytes held of the receive budget at the snapshot.
    pub held_bytes: u64,
    /// Items held of the receive budget at the snapshot.
    pub held_entries: u64,
    /// Bytes of the messages sent compressed, before compression.
    pub compression_input_bytes: u64,
    /// Bytes of the messages sent compressed, as sent (their frames).
    pub compression_output_bytes: u64,
    /// Time spent compressing (including messages that did not shrink).
    pub compression_time: Duration,
    /// Messages that were worth compressing but did not shrink (sent raw).
    pub compression_skipped: u64,
    /// Bytes decompressed from compressed messages received.
    pub decompressed_bytes: u64,
    /// Compressed messages refused (bad frames, too large, corrupt).
    pub decompression_failures: u64,
    /// Time spent decompressing received messages.
    pub decompression_time: Duration,
    /// Flow control: ConnCredit packets refused (absurd limits, or
    /// without FlowControl) and chunks from the peer past the granted
    /// credit (dropped). Each is also an error.
    pub credit_errors: u64,
    /// Flow control: chunks this side had to wait for credit to send.
    pub credit_stalls: u64,
    /// Bytes of the messages sent sealed, before sealing (after
    /// compression).
    pub encrypted_bytes: u64,
    /// Time spent sealing messages. Messages of 4 KiB or more are each
    /// timed; of the shorter ones only one in 64 is (by sequence number),
    /// and its time counts 64 times: two clock reads would cost about as
    /// much as sealing a short message. So for short messages this is an
    /// estimate.
    pub encryption_time: Duration,
    /// Plain bytes opened from sealed messages received (before
    /// decompression).
    pub decrypted_bytes: u64,
    /// Time spent opening sealed messages (authenticating and
    /// decrypting), timed as [`encryption_time`](Self::encryption_time)
    /// is: short messages one in 64, counted 64 times.
    pub decryption_time: Duration,
    /// Received messages refused because they did not authenticate
    /// (changed, forged, cut), or were plain on an encrypted link.
    pub authentication_failures: u64,
    /// Received sealed messages refused as replays (a sequence number
    /// accepted before, or too old).
    pub replays_refused: u64,
}

impl AdvancedStats {
    /// Sent bytes before compression per byte after it (0 before any
    /// message was compressed).
    pub fn compression_ratio(&self) -> f64 {
        if self.compression_output_bytes == 0 {
            0.0
        } else {
            self.compression_input_bytes as f64 / self.compression_output_bytes as f64
        }
    }
}

/// The words behind [`AdvancedStats`], in a statistics block (their order
/// is the published layout: append only, and bump the block's version
/// otherwise).
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct AdvancedWords {
    negotiation_nanos: AtomicU64,
    messages_sent: AtomicU64,
    messages_received: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    chunks_sent: AtomicU64,
    chunks_received: AtomicU64,
    aborts: AtomicU64,
    errors: AtomicU64,
    peer_errors: AtomicU64,
    pending_calls_high_water: AtomicU64,
    overflows: AtomicU64,
    partials_evicted: AtomicU64,
    replies_dropped: AtomicU64,
    compression_input_bytes: AtomicU64,
    compression_output_bytes: AtomicU64,
    compression_nanos: AtomicU64,
    compression_skipped: AtomicU64,
    decompressed_bytes: AtomicU64,
    decompression_failures: AtomicU64,
    decompression_nanos: AtomicU64,
    credit_errors: AtomicU64,
    credit_stalls: AtomicU64,
    encrypted_bytes: AtomicU64,
    encryption_nanos: AtomicU64,
    decrypted_bytes: AtomicU64,
    decryption_nanos: AtomicU64,
    authentication_failures: AtomicU64,
    replays_refused: AtomicU64,
}

fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// [`add`] for counters that are mostly not moved: a locked add costs
/// about as much as sealing a few bytes, so a zero is not added.
fn add_nonzero(counter: &AtomicU64, n: u64) {
    if n != 0 {
        add(counter, n);
    }
}

/// The live counters of an Advanced link: its words, latency buckets and
/// connection table in a [`Statistics`] block.
#[derive(Debug)]
pub(crate) struct AdvancedCounters {
    stats: Statistics,
}

impl std::ops::Deref for AdvancedCounters {
    type Target = AdvancedWords;

    fn deref(&self) -> &AdvancedWords {
        &self.stats.block().advanced
    }
}

impl AdvancedCounters {
    /// Counts into `stats` (and marks its block as an Advanced link's).
    pub(crate) fn new(stats: Statistics) -> Self {
        stats
            .block()
            .header
            .flags
            .fetch_or(FLAG_ADVANCED, Ordering::Relaxed);
        AdvancedCounters { stats }
    }

    fn block(&self) -> &StatBlock {
        self.stats.block()
    }

    /// The block the counters live in.
    pub(crate) fn statistics(&self) -> &Statistics {
        &self.stats
    }

    /// Records the negotiation's duration.
    pub(crate) fn negotiated(&self, elapsed: Duration) {
        self.negotiation_nanos
            .store(nanos(elapsed), Ordering::Relaxed);
    }

    /// Counts a whole message of `bytes` sent on `connection`, whose send
    /// took `elapsed`.
    pub(crate) fn message_sent(&self, connection: u64, bytes: u64, elapsed: Duration) {
        add(&self.messages_sent, 1);
        add(&self.bytes_sent, bytes);
        let block = self.block();
        block.deliveries.record(elapsed);
        let slot = self.stats.connections().slot_of(block, connection);
        add(&slot.messages_sent, 1);
        add(&slot.bytes_sent, bytes);
    }

    /// Counts a whole message of `bytes` received on `connection`.
    pub(crate) fn message_received(&self, connection: u64, bytes: u64) {
        add(&self.messages_received, 1);
        add(&self.bytes_received, bytes);
        let slot = self.stats.connections().slot_of(self.block(), connection);
        add(&slot.messages_received, 1);
        add(&slot.bytes_received, bytes);
    }

    /// Records a call's latency (start to answer).
    pub(crate) fn call_answered(&self, elapsed: Duration) {
        self.block().calls.record(elapsed);
    }

    /// Gives `connection`'s table slot back (it closed).
    pub(crate) fn connection_closed(&self, connection: u64) {
        self.stats.connections().release(self.block(), connection);
    }

    /// The per-connection counters.
    pub(crate) fn connections(&self) -> Vec<ConnectionStats> {
        self.stats.snapshot().connections
    }

    /// The latency histograms.
    pub(crate) fn latencies(&self) -> Latencies {
        self.stats.snapshot().latencies
    }

    /// Counts a chunk sent.
    pub(crate) fn chunk_sent(&self) {
        add(&self.chunks_sent, 1);
    }

    /// Counts a chunk received.
    pub(crate) fn chunk_received(&self) {
        add(&self.chunks_received, 1);
    }

    /// Counts an aborted message.
    pub(crate) fn abort(&self) {
        add(&self.aborts, 1);
    }

    /// Counts a typed error (bad input or a refused operation).
    pub(crate) fn error(&self) {
        add(&self.errors, 1);
    }

    /// Counts an Error packet from the peer.
    pub(crate) fn peer_error(&self) {
        add(&self.peer_errors, 1);
    }

    /// Raises the pending-call high-water mark to `pending`.
    pub(crate) fn pending_calls(&self, pending: usize) {
        let pending = u64::try_from(pending).unwrap_or(u64::MAX);
        self.pending_calls_high_water
            .fetch_max(pending, Ordering::Relaxed);
    }

    /// One message of `input` bytes compressed to `output` bytes (`None`:
    /// it did not shrink) in `elapsed`.
    pub(crate) fn compressed(&self, input: u64, output: Option<u64>, elapsed: Duration) {
        add(&self.compression_nanos, nanos(elapsed));
        match output {
            Some(output) => {
                add(&self.compression_input_bytes, input);
                add(&self.compression_output_bytes, output);
            }
            None => add(&self.compression_skipped, 1),
        }
    }

    /// One message of `bytes` sealed in `nanos`.
    pub(crate) fn sealed(&self, bytes: u64, nanos: u64) {
        add_nonzero(&self.encrypted_bytes, bytes);
        // Zero for the short messages that are not timed.
        add_nonzero(&self.encryption_nanos, nanos);
    }

    /// Adds the inbox's `events` and clears them (only those that moved:
    /// an encrypted message moves one or two of the eleven).
    pub(crate) fn take_events(&self, events: &mut InboxEvents) {
        let events = std::mem::take(events);
        add_nonzero(&self.decrypted_bytes, events.decrypted_bytes);
        add_nonzero(&self.decryption_nanos, events.decryption_nanos);
        add_nonzero(
            &self.authentication_failures,
            events.authentication_failures,
        );
        add_nonzero(&self.replays_refused, events.replays_refused);
        add_nonzero(&self.decompressed_bytes, events.decompressed_bytes);
        add_nonzero(&self.decompression_nanos, events.decompression_nanos);
        add_nonzero(&self.decompression_failures, events.decompression_failures);
        add_nonzero(&self.overflows, events.overflows);
        add_nonzero(&self.partials_evicted, events.evicted);
        add_nonzero(&self.replies_dropped, events.replies_dropped);
        add_nonzero(&self.credit_errors, events.credit_errors);
    }

    /// Counts a chunk that waited for flow-control credit.
    pub(crate) fn credit_stall(&self) {
        add(&self.credit_stalls, 1);
    }
}

impl AdvancedWords {
    /// A snapshot of the counters, with `held_bytes` and `held_entries` of
    /// the receive budget.
    pub(crate) fn snapshot(&self, held_bytes: u64, held_entries: usize) -> AdvancedStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AdvancedStats {
            negotiation_time: Duration::from_nanos(load(&self.negotiation_nanos)),
            messages_sent: load(&self.messages_sent),
            messages_received: load(&self.messages_received),
            bytes_sent: load(&self.bytes_sent),
            bytes_received: load(&self.bytes_received),
            chunks_sent: load(&self.chunks_sent),
            chunks_received: load(&self.chunks_received),
            aborts: load(&self.aborts),
            errors: load(&self.errors),
            peer_errors: load(&self.peer_errors),
            pending_calls_high_water: load(&self.pending_calls_high_water),
            overflows: load(&self.overflows),
            partials_evicted: load(&self.partials_evicted),
            replies_dropped: load(&self.replies_dropped),
            held_bytes,
            held_entries: u64::try_from(held_entries).unwrap_or(u64::MAX),
            compression_input_bytes: load(&self.compression_input_bytes),
            compression_output_bytes: load(&self.compression_output_bytes),
            compression_time: Duration::from_nanos(load(&self.compression_nanos)),
            compression_skipped: load(&self.compression_skipped),
            decompressed_bytes: load(&self.decompressed_bytes),
            decompression_failures: load(&self.decompression_failures),
            decompression_time: Duration::from_nanos(load(&self.decompression_nanos)),
            credit_errors: load(&self.credit_errors),
            credit_stalls: load(&self.credit_stalls),
            encrypted_bytes: load(&self.encrypted_bytes),
            encryption_time: Duration::from_nanos(load(&self.encryption_nanos)),
            decrypted_bytes: load(&self.decrypted_bytes),
            decryption_time: Duration::from_nanos(load(&self.decryption_nanos)),
            authentication_failures: load(&self.authentication_failures),
            replays_refused: load(&self.replays_refused),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let c = AdvancedCounters::new(Statistics::private(1));
        c.message_sent(0, 10, Duration::from_micros(3));
        c.message_sent(4, 5, Duration::from_micros(5));
        c.chunk_sent();
        c.error();
        c.pending_calls(3);
        c.pending_calls(2);
        c.negotiated(Duration::from_micros(7));
        let s = c.snapshot(0, 0);
        assert_eq!((s.messages_sent, s.bytes_sent, s.chunks_sent), (2, 15, 1));
        assert_eq!((s.errors, s.pending_calls_high_water), (1, 3));
        assert_eq!(s.negotiation_time, Duration::from_micros(7));
        assert_eq!(s.messages_received, 0);
        let connections = c.connections();
        let zero = connections.iter().find(|c| c.connection == Some(0));
        let four = connections.iter().find(|c| c.connection == Some(4));
        assert_eq!(zero.map(|c| (c.messages_sent, c.bytes_sent)), Some((1, 10)));
        assert_eq!(four.map(|c| (c.messages_sent, c.bytes_sent)), Some((1, 5)));
        assert_eq!(c.latencies().deliveries.len(), 2);
        c.connection_closed(4);
        assert!(!c.connections().iter().any(|c| c.connection == Some(4)));
    }

    #[test]
    fn inbox_events_are_added_once_each() {
        let c = AdvancedCounters::new(Statistics::private(1));
        let mut events = InboxEvents {
            overflows: 1,
            evicted: 2,
            replies_dropped: 3,
            decompressed_bytes: 4,
            decompression_failures: 5,
            decompression_nanos: 6,
            credit_errors: 7,
            decrypted_bytes: 8,
            decryption_nanos: 9,
            authentication_failures: 10,
            replays_refused: 11,
        };
        c.take_events(&mut events);
        assert_eq!(events, InboxEvents::default());
        let s = c.snapshot(0, 0);
        assert_eq!(
            (s.overflows, s.partials_evicted, s.replies_dropped),
            (1, 2, 3)
        );
        assert_eq!((s.decompressed_bytes, s.decompression_failures), (4, 5));
        assert_eq!(s.decompression_time, Duration::from_nanos(6));
        assert_eq!((s.credit_errors, s.decrypted_bytes), (7, 8));
        assert_eq!(s.decryption_time, Duration::from_nanos(9));
        assert_eq!((s.authentication_failures, s.replays_refused), (10, 11));
    }
}
