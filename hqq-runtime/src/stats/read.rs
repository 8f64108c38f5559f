//! Reading other processes' published statistics blocks, as untrusted
//! memory (see [`super`]'s "Trust").

use std::io;
use std::sync::atomic::Ordering;

use crate::liveness::{LockProbe, ProcessStatus};
use crate::segment::{list_segment_names, Segment, SegmentOpenError};
use crate::stats::block::{read_consistent, StatBlock, STAT_BLOCK_SIZE, STAT_MAGIC};
use crate::stats::block::{CONNECTION_SLOTS, STAT_VERSION};
use crate::stats::histogram::LATENCY_BUCKETS;
use crate::stats::publish::stat_prefix;
use crate::stats::snapshot::{self, StatSnapshot};
use crate::superblock::Role;

/// Snapshots tried before a reader gives up on a connection table that
/// keeps changing under it.
pub const READ_TRIES: u32 = 16;

/// Why a companion segment could not be read as a statistics block.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatReadError {
    /// The segment could not be opened (or is shorter than a block).
    #[error(transparent)]
    Open(#[from] SegmentOpenError),
    /// The magic word is not "HQQSTAT1": not a statistics block (or not
    /// initialized yet).
    #[error("not a statistics block (magic {found:#018x})")]
    Magic {
        /// The word found.
        found: u64,
    },
    /// A header word differs from this build's layout.
    #[error("statistics block {field} is {found}; this build reads {expected}")]
    Layout {
        /// The header field.
        field: &'static str,
        /// Its value in the block.
        found: u64,
        /// What this build writes.
        expected: u64,
    },
    /// The connection table changed during every one of [`READ_TRIES`]
    /// snapshots (its owner opens and closes connections that fast, or
    /// someone scribbles on its seqlock word).
    #[error("the connection table kept changing ({tries} tries)")]
    Unstable {
        /// Snapshots tried.
        tries: u32,
    },
}

/// One companion segment of a segment, as read.
#[derive(Debug)]
#[non_exhaustive]
pub struct PublishedStats {
    /// The companion segment's name (`<segment>.stat-<pid>`).
    pub name: String,
    /// Whether its owner is alive, from the kernel's locks
    /// (`Unknown` if the lock could not be probed).
    pub owner: ProcessStatus,
    /// What it holds.
    pub stats: Result<StatSnapshot, StatReadError>,
}

/// The names of the companion segments of `segment` in `/dev/shm`, sorted.
pub fn stat_segment_names(segment: &str) -> io::Result<Vec<String>> {
    let prefix = stat_prefix(segment);
    let mut names = list_segment_names()?;
    names.retain(|name| name.starts_with(&prefix));
    Ok(names)
}

/// Reads every companion segment of `segment`; fails only if `/dev/shm`
/// cannot be listed.
///
/// ```no_run
/// for published in hqq_runtime::stats::read_published("orders")? {
///     match published.stats {
///         Ok(s) => println!("pid {}: {} packets sent", s.pid, s.link.tx.packets),
///         Err(e) => println!("{}: {e}", published.name),
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_published(segment: &str) -> io::Result<Vec<PublishedStats>> {
    Ok(stat_segment_names(segment)?
        .into_iter()
        .map(|name| {
            let (owner, stats) = read_stat_segment(&name);
            PublishedStats { name, owner, stats }
        })
        .collect())
}

/// Reads the companion segment `name`: whether its owner lives, and its
/// block, checked and read in the seqlock.
pub fn read_stat_segment(name: &str) -> (ProcessStatus, Result<StatSnapshot, StatReadError>) {
    let segment = match Segment::open(name, STAT_BLOCK_SIZE) {
        Ok(segment) => segment,
        Err(e) => return (ProcessStatus::Unknown, Err(e.into())),
    };
    let owner = match LockProbe::of_segment(&segment).map(|p| p.role_held(Role::Primary)) {
        Some(Ok(true)) => ProcessStatus::Alive,
        Some(Ok(false)) => ProcessStatus::Dead,
        _ => ProcessStatus::Unknown,
    };
    (owner, read_block(&segment))
}

fn read_block(segment: &Segment) -> Result<StatSnapshot, StatReadError> {
    // `Segment::open` refused a file shorter than a block.
    debug_assert!(segment.len() >= STAT_BLOCK_SIZE);
    // SAFETY: the mapping is page-aligned (more than `StatBlock`'s 128-byte
    // alignment), at least `STAT_BLOCK_SIZE` bytes long and lives as long as
    // `segment`, which outlives the reference. `StatBlock` is atomics only:
    // every bit pattern is valid and other processes may write any word at
    // any time, which atomic loads allow; we never write through it.
    let block = unsafe { &*segment.as_ptr().cast_const().cast::<StatBlock>() };
    check_header(block)?;
    let table = read_consistent(block, READ_TRIES, snapshot::connections)
        .map_err(|_| StatReadError::Unstable { tries: READ_TRIES })?;
    Ok(snapshot::counters(block, table))
}

fn check_header(block: &StatBlock) -> Result<(), StatReadError> {
    let header = &block.header;
    // Pairs with the owner's Release store of the magic in `init`.
    let magic = header.magic.load(Ordering::Acquire);
    if magic != STAT_MAGIC {
        return Err(StatReadError::Magic { found: magic });
    }
    let expect = |field, word: &std::sync::atomic::AtomicU64, expected: usize| {
        let found = word.load(Ordering::Relaxed);
        let expected = expected as u64;
        if found == expected {
            Ok(())
        } else {
            Err(StatReadError::Layout {
                field,
                found,
                expected,
            })
        }
    };
    expect("version", &header.version, STAT_VERSION as usize)?;
    expect("size", &header.block_size, STAT_BLOCK_SIZE)?;
    expect("bucket count", &header.latency_buckets, LATENCY_BUCKETS)?;
    expect(
        "connection slots",
        &header.connection_slots,
        CONNECTION_SLOTS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::SegmentOptions;

    fn name(test: &str) -> String {
        format!("hqq-stat-unit-{}-{test}", std::process::id())
    }

    #[test]
    fn a_published_block_reads_back_and_its_owner_lives() {
        let segment = name("roundtrip");
        let stats = Statistics::publish(&segment, 2, 0o600).expect("published");
        stats.block().link.tx.packet(100);
        stats.block().link.tx.packet(20);
        let published = read_published(&segment).expect("listed");
        assert_eq!(published.len(), 1);
        assert_eq!(Some(published[0].name.as_str()), stats.published_name());
        assert_eq!(published[0].owner, ProcessStatus::Alive);
        let snapshot = published[0].stats.as_ref().expect("read");
        assert_eq!(snapshot.pid, u64::from(std::process::id()));
        assert_eq!(snapshot.role, Some(Role::Secondary));
        assert_eq!((snapshot.link.tx.packets, snapshot.link.tx.bytes), (2, 120));
        assert!(snapshot.advanced.is_none());
        drop(stats);
        assert!(read_published(&segment).expect("listed").is_empty());
    }

    use crate::stats::Statistics;

    #[test]
    fn garbage_gives_errors_not_panics() {
        let stat = format!("{}123", stat_prefix(&name("garbage")));
        let segment = Segment::create(&stat, STAT_BLOCK_SIZE, &SegmentOptions::new()).unwrap();
        let word = |offset: usize| segment.atomic_u64(offset).expect("in bounds");
        let (_, read) = read_stat_segment(&stat);
        assert!(matches!(read, Err(StatReadError::Magic { found: 0 })));
        // Random words everywhere, a right magic: a layout error, or
        // numbers, never a panic.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for offset in (0..STAT_BLOCK_SIZE).step_by(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word(offset).store(x, Ordering::Relaxed);
        }
        word(0).store(STAT_MAGIC, Ordering::Relaxed);
        let (owner, read) = read_stat_segment(&stat);
        assert_eq!(owner, ProcessStatus::Dead);
        assert!(matches!(
            read,
            Err(StatReadError::Layout {
                field: "version",
                ..
            })
        ));
        // A right header over random counters and an odd seqlock word.
        let fresh = Statistics::private(1);
        let header = &fresh.block().header;
        for (offset, value) in [
            (8, header.version.load(Ordering::Relaxed)),
            (16, header.block_size.load(Ordering::Relaxed)),
            (56, header.latency_buckets.load(Ordering::Relaxed)),
            (64, header.connection_slots.load(Ordering::Relaxed)),
            (40, 7),
        ] {
            word(offset).store(value, Ordering::Relaxed);
        }
        let (_, read) = read_stat_segment(&stat);
        assert!(matches!(read, Err(StatReadError::Unstable { .. })));
        word(40).store(8, Ordering::Relaxed);
        let (_, read) = read_stat_segment(&stat);
        let snapshot = read.expect("numbers, however wrong");
        assert!(snapshot.connections.len() <= CONNECTION_SLOTS + 1);
        // A file too short for a block.
        let short = format!("{}124", stat_prefix(&name("garbage")));
        let _short = Segment::create(&short, 64, &SegmentOptions::new()).unwrap();
        let (_, read) = read_stat_segment(&short);
        assert!(matches!(
            read,
            Err(StatReadError::Open(SegmentOpenError::TooSmall { .. }))
        ));
    }
}
