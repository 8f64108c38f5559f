//! Per-direction counters of a link: relaxed atomics in the link's
//! statistics block (see [`crate::stats`]), cheap enough for every message.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::wait::WaitStats;

/// What one direction of a link did in this process, since the link was
/// opened (other processes sharing the link keep their own counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DirectionStats {
    /// Packets sent or received (data copies and raw packets; tombstones
    /// excluded).
    pub packets: u64,
    /// Payload bytes sent or received.
    pub bytes: u64,
    /// Operations that failed on a corrupt ring or a bad packet.
    pub errors: u64,
    /// Tombstones published (send) or skipped (receive).
    pub tombstones: u64,
    /// Calls to the waiter while blocked (spins, yields and parks).
    pub waits: u64,
    /// Futex parks while blocked.
    pub parks: u64,
    /// `futex_wake` calls made for the peer after sending (tx) or
    /// releasing (rx): one per notify that found a parked waiter.
    pub wakes: u64,
}

/// A snapshot of a link's counters: [`tx`](Self::tx) for what this process
/// sent, [`rx`](Self::rx) for what it received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LinkStats {
    /// The sending direction.
    pub tx: DirectionStats,
    /// The receiving direction.
    pub rx: DirectionStats,
}

/// The live counters of one direction (their order is the published
/// layout of [`crate::stats`]).
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct DirectionCounters {
    packets: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    tombstones: AtomicU64,
    waits: AtomicU64,
    parks: AtomicU64,
}

impl DirectionCounters {
    #[inline]
    /// Counts a packet; returns how many came before it.
    pub(crate) fn packet(&self, bytes: usize) -> u64 {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.packets.fetch_add(1, Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn tombstone(&self) {
        self.tombstones.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn waited(&self, stats: WaitStats) {
        self.waits.fetch_add(stats.waits, Ordering::Relaxed);
        self.parks.fetch_add(stats.parks, Ordering::Relaxed);
    }

    fn snapshot(&self) -> DirectionStats {
        DirectionStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            tombstones: self.tombstones.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            parks: self.parks.load(Ordering::Relaxed),
            // Counted by the ring (`Ring::wake_calls`); filled in by the link.
            wakes: 0,
        }
    }
}

/// The live counters of both directions, each on its own cache lines so a
/// sending thread and a receiving thread do not contend.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct LinkCounters {
    pub(crate) tx: CachePadded<DirectionCounters>,
    pub(crate) rx: CachePadded<DirectionCounters>,
}

impl LinkCounters {
    pub(crate) fn snapshot(&self) -> LinkStats {
        LinkStats {
            tx: self.tx.snapshot(),
            rx: self.rx.snapshot(),
        }
    }
}
