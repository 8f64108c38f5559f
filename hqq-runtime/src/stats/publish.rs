//! Companion segments: a process's statistics block in `/dev/shm`, named
//! `<segment>.stat-<pid>` (`-<pid>-<n>` for a second link of one process on
//! one segment), created by its owner and removed when the owner drops it.
//!
//! The owner holds a shared OFD lock on byte [`LOCK_BASE`](crate::liveness::locks::LOCK_BASE)
//! of the file (the primary role byte of [`crate::liveness`], reused), so
//! a reader proves the owner alive or dead from the kernel's lock table.

use std::ptr::NonNull;

use crate::liveness::locks::HeldLocks;
use crate::segment::{Segment, SegmentCreateError, SegmentOptions};
use crate::stats::block::{ConnectionMap, StatBlock, STAT_BLOCK_SIZE};
use crate::stats::{Inner, Statistics, Storage};
use crate::superblock::Role;

/// Second and later links of one process on one segment try these
/// suffixes; past them the block stays private.
const MAX_SUFFIX: u32 = 8;

/// The companion segment and the lock that says its owner lives.
#[derive(Debug)]
pub(crate) struct Publication {
    // Dropped before the segment: the lock goes first.
    _locks: HeldLocks,
    segment: Segment,
}

impl Publication {
    /// The companion segment's name.
    pub(crate) fn name(&self) -> Option<&str> {
        self.segment.name()
    }
}

/// The prefix of every companion segment of `segment`.
pub(crate) fn stat_prefix(segment: &str) -> String {
    format!("{segment}.stat-")
}

impl Statistics {
    /// A block published in a new companion segment of `segment` (mode
    /// `mode`); `None` if none could be created (name too long, `/dev/shm`
    /// full, every suffix taken).
    pub(crate) fn publish(segment: &str, role: u64, mode: u32) -> Option<Statistics> {
        let pid = std::process::id();
        let mut options = SegmentOptions::new();
        options.mode(mode);
        let created = (0..MAX_SUFFIX).find_map(|n| {
            let name = match n {
                0 => format!("{}{pid}", stat_prefix(segment)),
                n => format!("{}{pid}-{n}", stat_prefix(segment)),
            };
            match Segment::create(&name, STAT_BLOCK_SIZE, &options) {
                Ok(created) => Some(Ok(created)),
                Err(SegmentCreateError::AlreadyExists { .. }) => None,
                Err(e) => Some(Err(e)),
            }
        })?;
        let segment = created.ok()?;
        let locks = HeldLocks::open(segment.file()?).ok()?;
        if !locks.lock_role(Role::Primary).ok()? {
            return None;
        }
        // The mapping is page-aligned and at least STAT_BLOCK_SIZE long.
        let block = NonNull::new(segment.as_ptr().cast::<StatBlock>())?;
        let stats = Statistics {
            inner: std::sync::Arc::new(Inner {
                block,
                storage: Storage::Published(Publication {
                    _locks: locks,
                    segment,
                }),
                connections: ConnectionMap::default(),
            }),
        };
        stats.block().init(u64::from(pid), role);
        Some(stats)
    }
}
