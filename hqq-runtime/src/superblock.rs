//! The superblock (wire-compat.md, "Superblock") and the open protocol's
//! election and readiness steps.
//!
//! ```text
//! 0   magic        0x4851515f53544c31 ("1LTS_QQH" in a hex dump)
//! 8   state        0 empty, 1 initializing, 2 ready
//! 16  major        1
//! 24  minor        0
//! 32  page size    4096
//! 40  count
//! 48  size
//! 56  layout size  (the segment's total size)
//! ```
//!
//! Whoever CASes `state` 0 -> 1 first is the [`Role::Primary`]: it
//! initializes the segment and calls [`Superblock::publish`]. Everyone else
//! is a [`Role::Secondary`] and calls [`Superblock::wait_ready`], which
//! waits for `state == 2` and then rejects a superblock whose magic, major
//! version or configuration differs from ours.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use crate::layout::{Direction, Layout};

/// Superblock magic (offset 0).
pub const SUPERBLOCK_MAGIC: u64 = 0x4851_515f_5354_4c31;

/// `state`: nobody has claimed the segment yet.
pub const STATE_EMPTY: u64 = 0;
/// `state`: the primary is initializing the segment.
pub const STATE_INITIALIZING: u64 = 1;
/// `state`: the segment is initialized and published.
pub const STATE_READY: u64 = 2;

/// Major protocol version we speak; a different major is rejected.
pub const VERSION_MAJOR: u64 = 1;
/// Minor protocol version we write (the established implementation writes 0).
pub const VERSION_MINOR: u64 = 0;

/// The superblock words as they sit at offset 0 of the segment.
#[repr(C)]
struct SuperblockWords {
    magic: AtomicU64,
    state: AtomicU64,
    major: AtomicU64,
    minor: AtomicU64,
    page_size: AtomicU64,
    count: AtomicU64,
    size: AtomicU64,
    layout_size: AtomicU64,
}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(SuperblockWords, magic) == 0);
    assert!(offset_of!(SuperblockWords, state) == 8);
    assert!(offset_of!(SuperblockWords, major) == 16);
    assert!(offset_of!(SuperblockWords, minor) == 24);
    assert!(offset_of!(SuperblockWords, page_size) == 32);
    assert!(offset_of!(SuperblockWords, count) == 40);
    assert!(offset_of!(SuperblockWords, size) == 48);
    assert!(offset_of!(SuperblockWords, layout_size) == 56);
    assert!(size_of::<SuperblockWords>() == SUPERBLOCK_SIZE);
};

/// Bytes of the superblock the wire format uses; the rest of the first page
/// is free for compatible extensions.
pub const SUPERBLOCK_SIZE: usize = 64;

/// The outcome of the election: who initializes the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Won the CAS of `state` 0 -> 1; initializes the segment, sends on
    /// ring 0 and receives on ring 1.
    Primary,
    /// Found the segment claimed; waits for it to be ready, sends on ring 1
    /// and receives on ring 0.
    Secondary,
}

impl Role {
    /// The direction this role sends in.
    #[inline]
    pub const fn tx(self) -> Direction {
        match self {
            Role::Primary => Direction::PrimaryToSecondary,
            Role::Secondary => Direction::SecondaryToPrimary,
        }
    }

    /// The direction this role receives in.
    #[inline]
    pub const fn rx(self) -> Direction {
        match self {
            Role::Primary => Direction::SecondaryToPrimary,
            Role::Secondary => Direction::PrimaryToSecondary,
        }
    }
}

/// A superblock field that a secondary compares with its own configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SuperblockField {
    /// Offset 32, the page size.
    PageSize,
    /// Offset 40, the slot count.
    Count,
    /// Offset 48, the buffer size.
    Size,
    /// Offset 56, the total segment size.
    LayoutSize,
}

impl std::fmt::Display for SuperblockField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SuperblockField::PageSize => "page size",
            SuperblockField::Count => "slot count",
            SuperblockField::Size => "buffer size",
            SuperblockField::LayoutSize => "layout size",
        })
    }
}

/// Why a secondary rejects a superblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SuperblockWaitError {
    /// The segment did not become ready before the deadline.
    #[error("the segment did not become ready in time (state {state})")]
    ReadyTimeout {
        /// The last `state` seen.
        state: u64,
    },
    /// `state` holds a value the protocol does not define.
    #[error("superblock state {0} is not 0, 1 or 2")]
    InvalidState(u64),
    /// The segment is ready but its magic is wrong.
    #[error("superblock magic is {0:#018x}, expected 0x4851515f53544c31")]
    WrongMagic(u64),
    /// The segment speaks another major version.
    #[error("segment speaks protocol {major}.{minor}, we speak 1.x")]
    VersionMismatch {
        /// Their major version.
        major: u64,
        /// Their minor version.
        minor: u64,
    },
    /// The segment was created with another configuration.
    #[error("segment {field} is {theirs}, ours is {ours}")]
    ConfigMismatch {
        /// Which field differs.
        field: SuperblockField,
        /// Our value.
        ours: u64,
        /// The value in the superblock.
        theirs: u64,
    },
}

/// A view of the superblock at the start of a segment.
///
/// All reads and writes are atomic; nothing here trusts the contents.
#[derive(Clone, Copy, Debug)]
pub struct Superblock<'a> {
    words: &'a SuperblockWords,
}

impl std::fmt::Debug for SuperblockWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuperblockWords")
            .field("magic", &self.magic.load(Ordering::Relaxed))
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Longest sleep between readiness polls.
const READY_POLL_NAP: Duration = Duration::from_millis(1);

impl<'a> Superblock<'a> {
    /// A view of the superblock at `segment`.
    ///
    /// # Safety
    ///
    /// `segment` is 8-byte aligned and valid for reads and writes of
    /// [`SUPERBLOCK_SIZE`] bytes for `'a`, and nobody in this process
    /// accesses those bytes except through atomics during `'a`.
    pub unsafe fn from_ptr(segment: NonNull<u8>) -> Superblock<'a> {
        // SAFETY: aligned and valid for 'a (caller); SuperblockWords is all
        // atomics, so a shared reference tolerates concurrent peer writes.
        let words = unsafe { segment.cast::<SuperblockWords>().as_ref() };
        Superblock { words }
    }

    /// The magic word (untrusted).
    pub fn magic(&self) -> u64 {
        self.words.magic.load(Ordering::Relaxed)
    }

    /// The state word (untrusted).
    pub fn state(&self) -> u64 {
        // Acquire: pairs with the Release store of STATE_READY in `publish`.
        self.words.state.load(Ordering::Acquire)
    }

    /// The `(major, minor)` version words (untrusted).
    pub fn version(&self) -> (u64, u64) {
        (
            self.words.major.load(Ordering::Relaxed),
            self.words.minor.load(Ordering::Relaxed),
        )
    }

    /// The `(page size, count, size, layout size)` words (untrusted).
    pub fn config(&self) -> (u64, u64, u64, u64) {
        (
            self.words.page_size.load(Ordering::Relaxed),
            self.words.count.load(Ordering::Relaxed),
            self.words.size.load(Ordering::Relaxed),
            self.words.layout_size.load(Ordering::Relaxed),
        )
    }

    /// Runs the election: CAS `state` 0 -> 1. The winner is the primary.
    pub fn elect(&self) -> Role {
        match self.words.state.compare_exchange(
            STATE_EMPTY,
            STATE_INITIALIZING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Role::Primary,
            Err(_) => Role::Secondary,
        }
    }

    /// Primary only, after initializing rings and buffers: stores the
    /// version and configuration, then the magic, then `state = 2`.
    pub fn publish(&self, layout: &Layout) {
        let w = self.words;
        w.major.store(VERSION_MAJOR, Ordering::Relaxed);
        w.minor.store(VERSION_MINOR, Ordering::Relaxed);
        w.page_size.store(layout.page_size(), Ordering::Relaxed);
        w.count.store(layout.count(), Ordering::Relaxed);
        w.size.store(layout.size(), Ordering::Relaxed);
        w.layout_size
            .store(layout.total_size() as u64, Ordering::Relaxed);
        w.magic.store(SUPERBLOCK_MAGIC, Ordering::Relaxed);
        // Release: pairs with the Acquire load of `state` in `wait_ready`
        // (and `state`), publishing everything the primary initialized.
        w.state.store(STATE_READY, Ordering::Release);
    }

    /// Secondary: waits until `state == 2` (polling with backoff, then short
    /// sleeps) or `deadline` passes, then validates magic, major version,
    /// page size, count, size and layout size against `layout`.
    pub fn wait_ready(
        &self,
        layout: &Layout,
        deadline: Instant,
    ) -> Result<(), SuperblockWaitError> {
        let backoff = Backoff::new();
        loop {
            match self.state() {
                STATE_READY => return self.validate(layout),
                state @ (STATE_EMPTY | STATE_INITIALIZING) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(SuperblockWaitError::ReadyTimeout { state });
                    }
                    if backoff.is_completed() {
                        std::thread::sleep(READY_POLL_NAP.min(deadline - now));
                    } else {
                        backoff.snooze();
                    }
                }
                state => return Err(SuperblockWaitError::InvalidState(state)),
            }
        }
    }

    /// Checks a ready superblock against `layout`.
    pub fn validate(&self, layout: &Layout) -> Result<(), SuperblockWaitError> {
        let magic = self.magic();
        if magic != SUPERBLOCK_MAGIC {
            return Err(SuperblockWaitError::WrongMagic(magic));
        }
        let (major, minor) = self.version();
        if major != VERSION_MAJOR {
            return Err(SuperblockWaitError::VersionMismatch { major, minor });
        }
        let (page_size, count, size, layout_size) = self.config();
        for (field, ours, theirs) in [
            (SuperblockField::PageSize, layout.page_size(), page_size),
            (SuperblockField::Count, layout.count(), count),
            (SuperblockField::Size, layout.size(), size),
            (
                SuperblockField::LayoutSize,
                layout.total_size() as u64,
                layout_size,
            ),
        ] {
            if ours != theirs {
                return Err(SuperblockWaitError::ConfigMismatch {
                    field,
                    ours,
                    theirs,
                });
            }
        }
        Ok(())
    }
}
