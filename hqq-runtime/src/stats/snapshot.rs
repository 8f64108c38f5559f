//! Plain copies of a statistics block: what `snapshot` calls and readers
//! of published blocks return.

use std::sync::atomic::Ordering;

use hdrhistogram::Histogram;

use crate::advanced::AdvancedStats;
use crate::link::LinkStats;
use crate::stats::block::{read_consistent, StatBlock, CONNECTION_SLOTS, FLAG_ADVANCED};
use crate::superblock::Role;

/// Everything one statistics block holds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StatSnapshot {
    /// The owner's process id.
    pub pid: u64,
    /// The owner's role on the link (`None`: the block says neither).
    pub role: Option<Role>,
    /// The Standard link's counters (the wake counts are not published:
    /// zero here, see [`StandardLink::stats`](crate::link::StandardLink::stats)).
    pub link: LinkStats,
    /// The Advanced link's counters (`None`: no Advanced link counts into
    /// this block). The receive-budget gauges are zero here.
    pub advanced: Option<AdvancedStats>,
    /// Per-connection counters of the Advanced link, for connections in use.
    pub connections: Vec<ConnectionStats>,
    /// Latency histograms of the Advanced link.
    pub latencies: Latencies,
}

/// What one connection of an Advanced link carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// The connection id (0: the link itself); `None` for the shared
    /// counters of connections that found the table full (more than
    /// [`CONNECTION_SLOTS`] at once).
    pub connection: Option<u64>,
    /// Whole messages sent (plain, requests and responses).
    pub messages_sent: u64,
    /// Message bytes sent (as given to the link, before compression).
    pub bytes_sent: u64,
    /// Whole messages received.
    pub messages_received: u64,
    /// Message bytes received (after decompression).
    pub bytes_received: u64,
}

/// Latency histograms of an Advanced link, in nanoseconds (values within
/// 6.25% of those recorded; see [`histogram`](super::histogram)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Latencies {
    /// Calls: from the start of a call to its response (or failure
    /// answer) arriving, for every call that got one.
    pub calls: Histogram<u64>,
    /// Message delivery: from the start of a send (plain message, request
    /// or response) until its last chunk is in the ring, including waits
    /// for ring room (the peer's backpressure).
    pub deliveries: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            calls: super::empty_histogram(),
            deliveries: super::empty_histogram(),
        }
    }
}

/// The connection table of `block`, slots in use only.
pub(crate) fn connections(block: &StatBlock) -> Vec<ConnectionStats> {
    let load = |w: &std::sync::atomic::AtomicU64| w.load(Ordering::Relaxed);
    block
        .connections
        .iter()
        .enumerate()
        .filter_map(|(index, slot)| {
            let connection = if index == CONNECTION_SLOTS {
                None
            } else {
                Some(load(&slot.id_plus_one).checked_sub(1)?)
            };
            let stats = ConnectionStats {
                connection,
                messages_sent: load(&slot.messages_sent),
                bytes_sent: load(&slot.bytes_sent),
                messages_received: load(&slot.messages_received),
                bytes_received: load(&slot.bytes_received),
            };
            let used = stats.messages_sent | stats.messages_received != 0;
            (connection.is_some() || used).then_some(stats)
        })
        .collect()
}

/// Everything but the connection table, read from `block`.
pub(crate) fn counters(block: &StatBlock, connections: Vec<ConnectionStats>) -> StatSnapshot {
    let header = &block.header;
    let flags = header.flags.load(Ordering::Relaxed);
    StatSnapshot {
        pid: header.pid.load(Ordering::Relaxed),
        role: match header.role.load(Ordering::Relaxed) {
            1 => Some(Role::Primary),
            2 => Some(Role::Secondary),
            _ => None,
        },
        link: block.link.snapshot(),
        advanced: (flags & FLAG_ADVANCED != 0).then(|| block.advanced.snapshot(0, 0)),
        connections,
        latencies: Latencies {
            calls: block.calls.load().to_histogram(),
            deliveries: block.deliveries.load().to_histogram(),
        },
    }
}

/// A snapshot of this process's own `block` (connection table read in the
/// seqlock; a torn read of our own table is still the best we have).
pub(crate) fn take(block: &StatBlock) -> StatSnapshot {
    let table = read_consistent(block, 64, connections).unwrap_or_else(|torn| torn);
    counters(block, table)
}
