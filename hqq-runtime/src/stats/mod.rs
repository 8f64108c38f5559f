//! Statistics a process keeps of its links, and publishes for others to
//! read: counters per direction and per connection, latency histograms of
//! calls and of message delivery, compression figures.
//!
//! Every link counts into one [`Statistics`] block of relaxed atomic words
//! (no lock on any send or receive path). By default the block is on the
//! heap and only this process reads it, through
//! [`StandardLink::stats`](crate::link::StandardLink::stats),
//! [`AdvancedLink::stats`](crate::advanced::AdvancedLink::stats) and
//! friends. With [`LinkConfig::publish_stats`](crate::link::LinkConfig::publish_stats)
//! the block lives in a small companion segment instead,
//! `<segment>.stat-<pid>` in `/dev/shm`, which this process alone writes
//! and any process may read with [`read_published`] (and `hqq stat`):
//! AeronStat's model, with latency percentiles. The main segment, and so
//! the layout the Go implementation shares, is untouched; a Go peer
//! publishes nothing, and readers say so.
//!
//! Nothing here needs the peer's cooperation: call latency is measured by
//! the caller, delivery latency by the sender, and each process publishes
//! its own counters. So no feature bit is negotiated for statistics (the
//! spec's `Statistics` bit stays reserved for figures that would need the
//! peer, such as one-way latency from sender timestamps).
//!
//! # Trust
//!
//! A companion segment is written by its owner only, but any process of the
//! same user can open it and scribble on it, so a reader treats it like
//! peer memory: atomic loads only, the header's magic, version, size and
//! counts checked against our own before anything else is read, every
//! count saturated rather than trusted, and the connection table read in
//! a seqlock with a bounded number of tries. A scribbler can make `hqq stat`
//! show wrong numbers or an error, never read out of bounds or panic. It
//! can also write the owner's own block, which changes only the numbers
//! the owner reports (the owner's connection-to-slot map is private).
//! Like any segment, a companion segment can be truncated by such a
//! process, and a mapping of lost pages raises `SIGBUS` (see
//! [`segment`](crate::segment)).

pub(crate) mod block;
pub mod histogram;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(unix)]
mod publish;
#[cfg(unix)]
mod read;
mod snapshot;

use std::ptr::NonNull;
use std::sync::Arc;

use crate::stats::block::{ConnectionMap, StatBlock};

pub use block::{CONNECTION_SLOTS, STAT_BLOCK_SIZE, STAT_MAGIC, STAT_VERSION};
pub use histogram::{empty_histogram, LATENCY_BUCKETS, MAX_TOTAL_COUNT, MAX_TRACKED_NANOS};
#[cfg(unix)]
pub use read::{
    read_published, read_stat_segment, stat_segment_names, PublishedStats, StatReadError,
    READ_TRIES,
};
pub use snapshot::{ConnectionStats, Latencies, StatSnapshot};

/// One process's statistics block for one link (cheap to clone: clones
/// share the block). The Standard link and the Advanced link above it
/// count into the same block.
#[derive(Debug, Clone)]
pub struct Statistics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Points into `storage` for as long as `Inner` lives.
    block: NonNull<StatBlock>,
    storage: Storage,
    connections: ConnectionMap,
}

#[derive(Debug)]
enum Storage {
    /// Allocated with the global allocator (zeroed), freed on drop.
    Heap,
    /// In a companion segment this process created.
    #[cfg(unix)]
    Published(publish::Publication),
}

// SAFETY: the block is made of atomics only, which any thread may access
// through a shared reference; `storage` keeps its memory alive and is only
// touched on drop.
unsafe impl Send for Inner {}
// SAFETY: as for `Send`: shared access is atomic.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Storage::Heap = self.storage {
            // SAFETY: `private` allocated the block with this layout, and
            // nothing refers to it once `Inner` is dropped.
            unsafe {
                std::alloc::dealloc(
                    self.block.as_ptr().cast(),
                    std::alloc::Layout::new::<StatBlock>(),
                )
            };
        }
    }
}

/// The role word of a block: 1 primary, 2 secondary.
pub(crate) fn role_word(role: crate::superblock::Role) -> u64 {
    match role {
        crate::superblock::Role::Primary => 1,
        crate::superblock::Role::Secondary => 2,
    }
}

impl Statistics {
    /// A block on the heap, read only by this process; `role` is
    /// [`role_word`]'s.
    pub(crate) fn private(role: u64) -> Statistics {
        let layout = std::alloc::Layout::new::<StatBlock>();
        // SAFETY: the layout is not zero-sized.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<StatBlock>();
        let Some(block) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        let stats = Statistics {
            inner: Arc::new(Inner {
                block,
                storage: Storage::Heap,
                connections: ConnectionMap::default(),
            }),
        };
        stats.block().init(u64::from(std::process::id()), role);
        stats
    }

    /// The live block.
    pub(crate) fn block(&self) -> &StatBlock {
        // SAFETY: `block` points to a zeroed or initialized `StatBlock`
        // (all atomics: every bit pattern is valid and any process may
        // write it concurrently) that `storage` keeps alive while `self`
        // lives.
        unsafe { self.inner.block.as_ref() }
    }

    /// Which connection counts in which slot.
    pub(crate) fn connections(&self) -> &ConnectionMap {
        &self.inner.connections
    }

    /// The companion segment the block is published in (`None`: the block
    /// is private to this process).
    pub fn published_name(&self) -> Option<&str> {
        match &self.inner.storage {
            Storage::Heap => None,
            #[cfg(unix)]
            Storage::Published(publication) => publication.name(),
        }
    }

    /// Everything the block holds now (the in-process view of what
    /// [`read_published`] shows other processes).
    pub fn snapshot(&self) -> StatSnapshot {
        snapshot::take(self.block())
    }
}
