//! Counters of an Advanced link.
//!
//! Counters are relaxed atomics: each is exact on its own, a snapshot of
//! several is not taken at one instant.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of an Advanced link's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
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
}

/// The live counters behind [`AdvancedStats`].
#[derive(Debug, Default)]
pub struct AdvancedCounters {
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
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl AdvancedCounters {
    /// Records the negotiation's duration.
    pub fn negotiated(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.negotiation_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Counts a whole message of `bytes` sent.
    pub fn message_sent(&self, bytes: u64) {
        add(&self.messages_sent, 1);
        add(&self.bytes_sent, bytes);
    }

    /// Counts a whole message of `bytes` received.
    pub fn message_received(&self, bytes: u64) {
        add(&self.messages_received, 1);
        add(&self.bytes_received, bytes);
    }

    /// Counts a chunk sent.
    pub fn chunk_sent(&self) {
        add(&self.chunks_sent, 1);
    }

    /// Counts a chunk received.
    pub fn chunk_received(&self) {
        add(&self.chunks_received, 1);
    }

    /// Counts an aborted message.
    pub fn abort(&self) {
        add(&self.aborts, 1);
    }

    /// Counts a typed error (bad input or a refused operation).
    pub fn error(&self) {
        add(&self.errors, 1);
    }

    /// Counts an Error packet from the peer.
    pub fn peer_error(&self) {
        add(&self.peer_errors, 1);
    }

    /// Raises the pending-call high-water mark to `pending`.
    pub fn pending_calls(&self, pending: usize) {
        let pending = u64::try_from(pending).unwrap_or(u64::MAX);
        self.pending_calls_high_water
            .fetch_max(pending, Ordering::Relaxed);
    }

    /// A snapshot of the counters.
    pub fn snapshot(&self) -> AdvancedStats {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let c = AdvancedCounters::default();
        c.message_sent(10);
        c.message_sent(5);
        c.chunk_sent();
        c.error();
        c.pending_calls(3);
        c.pending_calls(2);
        c.negotiated(Duration::from_micros(7));
        let s = c.snapshot();
        assert_eq!((s.messages_sent, s.bytes_sent, s.chunks_sent), (2, 15, 1));
        assert_eq!((s.errors, s.pending_calls_high_water), (1, 3));
        assert_eq!(s.negotiation_time, Duration::from_micros(7));
        assert_eq!(s.messages_received, 0);
    }
}
