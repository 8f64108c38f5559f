//! The statistics block: every counter of one process's link, laid out as
//! `#[repr(C)]` atomic words so that it can live on the heap or in a
//! published companion segment (see [`super::publish`]) unchanged.
//!
//! ```text
//! offset  field
//! 0       header: magic "HQQSTAT1", version, block size, pid, role,
//!         seq (seqlock of the connection table), flags, bucket and
//!         connection-slot counts (u64 each; 128 bytes)
//! 128     Standard link counters: tx, then rx (128 bytes each)
//! 384     Advanced link counters (one 128-byte-aligned group)
//! ...     call latency buckets, then delivery latency buckets
//!         (sum, max, LATENCY_BUCKETS counts; u64 each)
//! ...     connection table: CONNECTION_SLOTS + 1 slots of 64 bytes
//!         { connection + 1 (0: free), messages sent, bytes sent,
//!           messages received, bytes received, 0, 0, 0 };
//!         the last slot counts every connection that found no free slot
//! ```
//!
//! Counters are only ever added to with relaxed atomics by their owner, on
//! the hot paths, with no lock. The connection table's slot assignments
//! change under a seqlock (`seq` odd while a slot changes hands, bumped
//! again after), so a reader can tell a snapshot in which the connection
//! ids and their counters belong together.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Mutex;

use crossbeam_utils::CachePadded;

use crate::advanced::stats::AdvancedWords;
use crate::link::stats::LinkCounters;
use crate::stats::histogram::{LatencyBuckets, LATENCY_BUCKETS};

/// Statistics block magic: the ASCII bytes "HQQSTAT1" as a little-endian u64.
pub const STAT_MAGIC: u64 = u64::from_le_bytes(*b"HQQSTAT1");

/// Statistics block layout version.
pub const STAT_VERSION: u64 = 1;

/// Connections with slots of their own in the table; more share the last.
pub const CONNECTION_SLOTS: usize = 64;

/// Header flag: an Advanced link counts into this block.
pub(crate) const FLAG_ADVANCED: u64 = 1;

/// The header words.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct StatHeader {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU64,
    pub(crate) block_size: AtomicU64,
    pub(crate) pid: AtomicU64,
    /// 1 primary, 2 secondary.
    pub(crate) role: AtomicU64,
    pub(crate) seq: AtomicU64,
    pub(crate) flags: AtomicU64,
    pub(crate) latency_buckets: AtomicU64,
    pub(crate) connection_slots: AtomicU64,
}

/// One connection's slot.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct ConnectionWords {
    /// The connection id plus one; 0 while the slot is free.
    pub(crate) id_plus_one: AtomicU64,
    pub(crate) messages_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) messages_received: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
}

impl ConnectionWords {
    fn clear(&self) {
        for word in [
            &self.messages_sent,
            &self.bytes_sent,
            &self.messages_received,
            &self.bytes_received,
        ] {
            word.store(0, Ordering::Relaxed);
        }
    }
}

/// The whole block.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct StatBlock {
    pub(crate) header: StatHeader,
    pub(crate) link: LinkCounters,
    pub(crate) advanced: CachePadded<AdvancedWords>,
    pub(crate) calls: LatencyBuckets,
    pub(crate) deliveries: LatencyBuckets,
    pub(crate) connections: [ConnectionWords; CONNECTION_SLOTS + 1],
}

/// Bytes of a statistics block (a companion segment is this long).
pub const STAT_BLOCK_SIZE: usize = std::mem::size_of::<StatBlock>();

/// Marks a private connection-map entry whose connection closed (lookups
/// probe past it, claims reuse it).
const RELEASED: u64 = u64::MAX;

impl StatBlock {
    /// Writes the header of a fresh (zeroed) block.
    pub(crate) fn init(&self, pid: u64, role: u64) {
        let h = &self.header;
        h.version.store(STAT_VERSION, Ordering::Relaxed);
        h.block_size
            .store(STAT_BLOCK_SIZE as u64, Ordering::Relaxed);
        h.pid.store(pid, Ordering::Relaxed);
        h.role.store(role, Ordering::Relaxed);
        h.latency_buckets
            .store(LATENCY_BUCKETS as u64, Ordering::Relaxed);
        h.connection_slots
            .store(CONNECTION_SLOTS as u64, Ordering::Relaxed);
        // Pairs with the reader's Acquire load of the magic: the header
        // words above are visible once the magic is.
        h.magic.store(STAT_MAGIC, Ordering::Release);
    }

    /// The slot of the connection table that `index` names, or the shared
    /// last slot.
    fn slot(&self, index: Option<usize>) -> &ConnectionWords {
        let last = &self.connections[CONNECTION_SLOTS];
        index.and_then(|i| self.connections.get(i)).unwrap_or(last)
    }
}

/// Which table slot each connection has, kept in process-private memory
/// (the published block's ids are for readers only, never trusted back).
#[derive(Debug)]
pub(crate) struct ConnectionMap {
    /// Connection id plus one per slot, 0 for never used, [`RELEASED`].
    ids: [AtomicU64; CONNECTION_SLOTS],
    /// Serializes slot changes (the seqlock has one writer).
    writer: Mutex<()>,
}

impl Default for ConnectionMap {
    fn default() -> Self {
        ConnectionMap {
            ids: std::array::from_fn(|_| AtomicU64::new(0)),
            writer: Mutex::new(()),
        }
    }
}

fn home(connection: u64) -> usize {
    // Fibonacci hashing: ids are small counters, spread them.
    (connection.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % CONNECTION_SLOTS
}

impl ConnectionMap {
    /// The slot of `connection` if it has one: at most one probe per slot,
    /// relaxed loads only.
    #[inline]
    fn find(&self, connection: u64) -> Option<usize> {
        let key = connection.wrapping_add(1);
        let start = home(connection);
        for step in 0..CONNECTION_SLOTS {
            let index = (start + step) % CONNECTION_SLOTS;
            match self.ids[index].load(Ordering::Relaxed) {
                0 => return None,
                id if id == key => return Some(index),
                _ => {}
            }
        }
        None
    }

    /// The slot of `connection` in `block`, claimed on first use (under the
    /// writer lock, once per connection); `None` when the table is full.
    pub(crate) fn slot_of<'b>(&self, block: &'b StatBlock, connection: u64) -> &'b ConnectionWords {
        if let Some(index) = self.find(connection) {
            return block.slot(Some(index));
        }
        block.slot(self.claim(block, connection))
    }

    fn claim(&self, block: &StatBlock, connection: u64) -> Option<usize> {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(index) = self.find(connection) {
            return Some(index);
        }
        let start = home(connection);
        let index = (0..CONNECTION_SLOTS)
            .map(|step| (start + step) % CONNECTION_SLOTS)
            .find(|&i| matches!(self.ids[i].load(Ordering::Relaxed), 0 | RELEASED))?;
        let key = connection.wrapping_add(1);
        write_slot(block, index, key);
        self.ids[index].store(key, Ordering::Relaxed);
        Some(index)
    }

    /// Frees the slot of `connection` (closed) for another connection.
    pub(crate) fn release(&self, block: &StatBlock, connection: u64) {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(index) = self.find(connection) {
            write_slot(block, index, 0);
            self.ids[index].store(RELEASED, Ordering::Relaxed);
        }
    }
}

/// Gives table slot `index` to the connection `key` (id plus one, 0 for
/// none) with zeroed counters, inside one seqlock write.
fn write_slot(block: &StatBlock, index: usize, key: u64) {
    let seq = &block.header.seq;
    let before = seq.load(Ordering::Relaxed);
    seq.store(before.wrapping_add(1) | 1, Ordering::Relaxed);
    // Orders the odd seq before the slot's words: a reader that sees any of
    // the new words sees an odd or newer seq on its second load.
    fence(Ordering::Release);
    let slot = block.slot(Some(index));
    slot.clear();
    slot.id_plus_one.store(key, Ordering::Relaxed);
    // Pairs with the reader's Acquire load of seq at the start of a
    // snapshot: the words written above are visible with the even seq.
    seq.store((before | 1).wrapping_add(1), Ordering::Release);
}

/// Reads `read` of `block` inside the seqlock: retries while a slot
/// change overlaps, at most `tries` times. `Err` carries the last (torn)
/// result when every try overlapped one.
pub(crate) fn read_consistent<R>(
    block: &StatBlock,
    tries: u32,
    mut read: impl FnMut(&StatBlock) -> R,
) -> Result<R, R> {
    let seq = &block.header.seq;
    let mut last = None;
    for _ in 0..tries.max(1) {
        // Pairs with the writer's Release store of the even seq.
        let before = seq.load(Ordering::Acquire);
        let result = read(block);
        // Keeps the reads above before the second load of seq.
        fence(Ordering::Acquire);
        let after = seq.load(Ordering::Relaxed);
        if before == after && before % 2 == 0 {
            return Ok(result);
        }
        last = Some(result);
        std::hint::spin_loop();
    }
    Err(last.unwrap_or_else(|| read(block)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Statistics;

    #[test]
    fn connections_get_slots_and_give_them_back() {
        let stats = Statistics::private(1);
        let (block, map) = (stats.block(), stats.connections());
        for c in 0..CONNECTION_SLOTS as u64 {
            map.slot_of(block, c)
                .messages_sent
                .fetch_add(c + 1, Ordering::Relaxed);
        }
        // The table is full: connection 1000 shares the last slot.
        let other = map.slot_of(block, 1000);
        assert!(std::ptr::eq(other, &block.connections[CONNECTION_SLOTS]));
        for c in 0..CONNECTION_SLOTS as u64 {
            let slot = map.slot_of(block, c);
            assert_eq!(slot.id_plus_one.load(Ordering::Relaxed), c + 1);
            assert_eq!(slot.messages_sent.load(Ordering::Relaxed), c + 1);
        }
        map.release(block, 7);
        let reused = map.slot_of(block, 1000);
        assert_eq!(reused.id_plus_one.load(Ordering::Relaxed), 1001);
        assert_eq!(reused.messages_sent.load(Ordering::Relaxed), 0);
        // Every other connection still finds its own slot past the reused one.
        for c in (0..CONNECTION_SLOTS as u64).filter(|&c| c != 7) {
            assert_eq!(
                map.slot_of(block, c).id_plus_one.load(Ordering::Relaxed),
                c + 1
            );
        }
        assert_eq!(block.header.seq.load(Ordering::Relaxed) % 2, 0);
    }

    #[test]
    fn a_reader_gives_up_on_a_seq_that_stays_odd() {
        let stats = Statistics::private(1);
        let block = stats.block();
        assert_eq!(read_consistent(block, 3, |_| 1), Ok(1));
        block.header.seq.store(5, Ordering::Relaxed);
        let mut tries = 0;
        assert_eq!(
            read_consistent(block, 3, |_| {
                tries += 1;
                2
            }),
            Err(2)
        );
        assert_eq!(tries, 3);
    }
}
