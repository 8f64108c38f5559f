//! Our compatible extension block in the superblock page's unused bytes
//! (page offsets 64..4096, which the established implementation leaves
//! zero and ignores).
//!
//! ```text
//! page offset  field
//! 64           magic   "HQQEXT01" (little-endian u64 0x3130545845515148)
//! 72           version 1
//! 80..128      reserved, zero
//! 128          direction 0 (primary -> secondary), data line:  data_seq u32, data_waiters u32
//! 256          direction 0, space line:                         space_seq u32, space_waiters u32
//! 384          direction 1 (secondary -> primary), data line
//! 512          direction 1, space line
//! 640..1664    process table: 16 entries of 64 bytes
//!              { pid, start_time, generation, flags, pid_namespace,
//!                send claim, receive claim, parked waiters }
//!              (u64 each; see `crate::liveness` and `crate::ring::claims`)
//! ```
//!
//! Outside the mapping, bytes 2^62 and up of the segment *file* carry the
//! liveness locks (see [`crate::liveness::locks`]): a shared lock per role
//! and an exclusive lock per process-table entry, held by each registered
//! process while it lives. Flag bit 4 of an entry ([`FLAG_LOCKED`]) says its
//! process holds its lock. Both are additions a Go peer never sees: it
//! neither registers nor locks, and reads none of this block.
//!
//! [`FLAG_LOCKED`]: crate::liveness::FLAG_LOCKED
//!
//! Each futex word pair sits alone on a 128-byte line (two cache lines, as
//! adjacent-line prefetch pairs them). After publishing, a producer reads
//! `data_waiters` and, only if it is non-zero, bumps `data_seq` and wakes;
//! after releasing, a consumer does the same with `space_waiters` and
//! `space_seq` (see [`crate::wait`]). While nobody sleeps the words are
//! only read, so their lines stay shared between the processes.
//!
//! Nothing here is needed for correctness: a Go peer never writes it, and a
//! misbehaving peer can write anything into it at any time. The words are
//! wake-up hints only; every wait that uses them must also have a timeout.
//! The process table records the attached processes for liveness checks
//! (see [`crate::liveness`]); it too is only a hint.
//!
//! The primary writes the block before it publishes the superblock, magic
//! last (`Release`); [`ExtensionBlock::from_superblock_page`] returns it only if the
//! magic and version match (`Acquire`), and the link treats it as absent
//! otherwise.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::layout::{Direction, PAGE_SIZE};
use crate::superblock::SUPERBLOCK_SIZE;

/// Extension magic: the ASCII bytes "HQQEXT01" read as a little-endian u64.
pub const EXTENSION_MAGIC: u64 = u64::from_le_bytes(*b"HQQEXT01");

/// Extension layout version.
pub const EXTENSION_VERSION: u64 = 1;

/// Offset of the extension block in the superblock page.
pub const EXTENSION_OFFSET: usize = SUPERBLOCK_SIZE;

/// Entries in the process table.
pub const PROCESS_TABLE_LEN: usize = 16;

/// Offset of the process table in the superblock page.
pub const PROCESS_TABLE_OFFSET: usize = 640;

/// Bytes per process-table entry.
pub const PROCESS_ENTRY_SIZE: usize = 64;

/// The wake-up words of one direction.
#[repr(C)]
pub struct DirectionWords {
    data_seq: AtomicU32,
    data_waiters: AtomicU32,
    _data_pad: [AtomicU32; 30],
    space_seq: AtomicU32,
    space_waiters: AtomicU32,
    _space_pad: [AtomicU32; 30],
}

/// One process-table entry, written by [`crate::liveness::register`].
#[repr(C)]
pub struct ProcessEntry {
    /// Process id, 0 for a free entry.
    pub pid: AtomicU64,
    /// Process start time in boot-relative clock ticks (with the pid,
    /// identifies the process across pid reuse).
    pub start_time: AtomicU64,
    /// Generation: bumped each time the entry is claimed.
    pub heartbeat: AtomicU64,
    /// Role and flag bits (`crate::liveness::FLAG_*`).
    pub flags: AtomicU64,
    /// Inode of the registering process's pid namespace (`/proc/self/ns/pid`),
    /// 0 if unknown; shown by tools (liveness goes by locks, not pids).
    pub pid_namespace: AtomicU64,
    /// The last write position this process claimed as a producer, encoded
    /// as a claim record (see `crate::ring::claims`); 0 if none.
    pub send_claim: AtomicU64,
    /// The last read positions this process claimed as a consumer, encoded
    /// as a claim record (see `crate::ring::claims`); 0 if none.
    pub recv_claim: AtomicU64,
    /// How many of this process's threads are parked on each of the four
    /// `*_waiters` words (16 bits each; see `crate::liveness::waiters`), so
    /// that a survivor can withdraw them once the process is proven dead.
    pub waits: AtomicU64,
}

/// The extension block, as it sits at page offset [`EXTENSION_OFFSET`].
///
/// All fields are atomics, so shared references to it (and the `&AtomicU32`
/// and `&AtomicU64` its accessors return) are sound although other processes
/// write the same memory concurrently; the owner of the mapping keeps the
/// memory alive for the lifetime of the reference.
#[repr(C)]
pub struct ExtensionBlock {
    magic: AtomicU64,
    version: AtomicU64,
    _reserved: [AtomicU64; 6],
    directions: [DirectionWords; 2],
    processes: [ProcessEntry; PROCESS_TABLE_LEN],
}

const _: () = {
    use std::mem::{offset_of, size_of};
    let base = EXTENSION_OFFSET;
    assert!(base == 64);
    assert!(base + offset_of!(ExtensionBlock, magic) == 64);
    assert!(base + offset_of!(ExtensionBlock, version) == 72);
    assert!(base + offset_of!(ExtensionBlock, directions) == 128);
    assert!(size_of::<DirectionWords>() == 256);
    assert!(offset_of!(DirectionWords, data_seq) == 0);
    assert!(offset_of!(DirectionWords, data_waiters) == 4);
    assert!(offset_of!(DirectionWords, space_seq) == 128);
    assert!(offset_of!(DirectionWords, space_waiters) == 132);
    assert!(base + offset_of!(ExtensionBlock, processes) == PROCESS_TABLE_OFFSET);
    assert!(size_of::<ProcessEntry>() == PROCESS_ENTRY_SIZE);
    assert!(offset_of!(ProcessEntry, pid_namespace) == 32);
    assert!(offset_of!(ProcessEntry, send_claim) == 40);
    assert!(offset_of!(ProcessEntry, recv_claim) == 48);
    assert!(offset_of!(ProcessEntry, waits) == 56);
    assert!(base + size_of::<ExtensionBlock>() == 1664);
    assert!(base + size_of::<ExtensionBlock>() <= PAGE_SIZE as usize);
};

impl ExtensionBlock {
    /// The extension block of the superblock page at `page`, without checking it.
    ///
    /// # Safety
    ///
    /// `page` is 8-byte aligned and valid for reads and writes of one page
    /// for `'a`, and nobody in this process accesses bytes 64..1664 of it
    /// except through atomics during `'a`.
    pub(crate) unsafe fn at<'a>(page: NonNull<u8>) -> &'a ExtensionBlock {
        // SAFETY: EXTENSION_OFFSET + size_of::<ExtensionBlock>() <= one page
        // (asserted above) and 8-aligned; valid for 'a (caller); all fields
        // are atomics.
        unsafe { page.add(EXTENSION_OFFSET).cast::<ExtensionBlock>().as_ref() }
    }

    /// The extension block of the superblock page at `page` if its magic
    /// and version say one was written, else `None` (a Go primary, or garbage).
    ///
    /// # Safety
    ///
    /// As for the crate-internal `at`: `page` is 8-byte aligned and valid
    /// for one page for `'a`, and this process touches bytes 64..1664 of it
    /// only through atomics during `'a`.
    pub unsafe fn from_superblock_page<'a>(page: NonNull<u8>) -> Option<&'a ExtensionBlock> {
        // SAFETY: forwarded contract.
        let block = unsafe { Self::at(page) };
        block.is_present().then_some(block)
    }

    /// Whether the magic and version say the block was written by a peer
    /// that knows this layout.
    pub fn is_present(&self) -> bool {
        // Acquire: pairs with the Release store of the magic in `initialize`.
        self.magic.load(Ordering::Acquire) == EXTENSION_MAGIC
            && self.version.load(Ordering::Relaxed) == EXTENSION_VERSION
    }

    /// Primary only, before publishing the superblock: zeroes the block,
    /// then writes the version and, last, the magic.
    pub(crate) fn initialize(&self) {
        self.magic.store(0, Ordering::Relaxed);
        for word in &self._reserved {
            word.store(0, Ordering::Relaxed);
        }
        for d in &self.directions {
            d.data_seq.store(0, Ordering::Relaxed);
            d.data_waiters.store(0, Ordering::Relaxed);
            d.space_seq.store(0, Ordering::Relaxed);
            d.space_waiters.store(0, Ordering::Relaxed);
            for word in d._data_pad.iter().chain(&d._space_pad) {
                word.store(0, Ordering::Relaxed);
            }
        }
        for p in &self.processes {
            for word in [
                &p.pid,
                &p.start_time,
                &p.heartbeat,
                &p.flags,
                &p.pid_namespace,
                &p.send_claim,
                &p.recv_claim,
                &p.waits,
            ] {
                word.store(0, Ordering::Relaxed);
            }
        }
        self.version.store(EXTENSION_VERSION, Ordering::Relaxed);
        // Release: pairs with the Acquire load in `is_present`.
        self.magic.store(EXTENSION_MAGIC, Ordering::Release);
    }

    /// Bumped by a producer of `direction` after it publishes a packet.
    #[inline]
    pub fn data_seq(&self, direction: Direction) -> &AtomicU32 {
        &self.direction(direction).data_seq
    }

    /// Consumers of `direction` sleeping on [`ExtensionBlock::data_seq`].
    #[inline]
    pub fn data_waiters(&self, direction: Direction) -> &AtomicU32 {
        &self.direction(direction).data_waiters
    }

    /// Bumped by a consumer of `direction` after it releases a slot.
    #[inline]
    pub fn space_seq(&self, direction: Direction) -> &AtomicU32 {
        &self.direction(direction).space_seq
    }

    /// Producers of `direction` sleeping on [`ExtensionBlock::space_seq`].
    #[inline]
    pub fn space_waiters(&self, direction: Direction) -> &AtomicU32 {
        &self.direction(direction).space_waiters
    }

    #[inline]
    fn direction(&self, direction: Direction) -> &DirectionWords {
        match direction {
            Direction::PrimaryToSecondary => &self.directions[0],
            Direction::SecondaryToPrimary => &self.directions[1],
        }
    }

    /// Process-table entry `i` (`None` if `i >= PROCESS_TABLE_LEN`).
    #[inline]
    pub fn process(&self, i: usize) -> Option<&ProcessEntry> {
        self.processes.get(i)
    }

    /// All process-table entries.
    #[inline]
    pub fn processes(&self) -> &[ProcessEntry; PROCESS_TABLE_LEN] {
        &self.processes
    }
}
