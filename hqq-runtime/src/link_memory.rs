//! The memory of one Standard link: a segment region opened with the open
//! protocol of wire-compat.md and split into its superblock, extension block
//! and two rings, oriented by role.
//!
//! [`LinkMemory::open`] runs the whole protocol on a region it is handed as a
//! pointer and a length (a shared segment, or heap memory in tests):
//! election, then either initialization (primary: both rings, both buffer
//! regions zeroed, extension block, superblock fields, magic, `state = 2`)
//! or waiting and validation (secondary), then the ring views.

use std::ptr::NonNull;
use std::time::Instant;

use crate::extension::ExtensionBlock;
use crate::layout::{Direction, Layout, PAGE_SIZE};
use crate::ring::{Ring, RingAttachError, RingInitError};
use crate::superblock::{Role, Superblock, SuperblockWaitError};

/// Why [`LinkMemory::open`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkMemoryOpenError {
    /// The region is shorter than the layout's total size.
    #[error("region of {len} bytes is smaller than the {needed}-byte layout")]
    RegionTooSmall {
        /// The region length.
        len: usize,
        /// The layout's total size.
        needed: usize,
    },
    /// The region does not start on a page boundary.
    #[error("region is not aligned to a 4096-byte page")]
    Misaligned,
    /// The superblock was not ready in time or does not match our layout.
    #[error(transparent)]
    Superblock(#[from] SuperblockWaitError),
    /// A ring could not be created (primary).
    #[error("initializing a ring failed: {0}")]
    RingInit(#[from] RingInitError),
    /// A ring in a ready segment is not valid (secondary).
    #[error("attaching a ring failed: {0}")]
    RingAttach(#[from] RingAttachError),
}

/// An opened link region: role, layout, and the two rings oriented by role.
///
/// The rings are views into the region; see [`LinkMemory::open`] for what
/// keeps it alive.
#[derive(Debug)]
pub struct LinkMemory {
    region: NonNull<u8>,
    layout: Layout,
    role: Role,
    tx: Ring,
    rx: Ring,
    extension: Option<NonNull<ExtensionBlock>>,
}

// SAFETY: the region is only accessed through atomics and slot-owned buffer
// access (see `Ring`); the pointers are views the open contract keeps valid.
unsafe impl Send for LinkMemory {}
// SAFETY: as for `Send`; all `&self` methods are safe to call concurrently.
unsafe impl Sync for LinkMemory {}

impl LinkMemory {
    /// Runs the open protocol on `region` for `layout`.
    ///
    /// Elects a role by CAS on the superblock's `state`. The primary
    /// initializes both rings, zeroes both buffer regions, writes the
    /// extension block, then publishes the superblock (`state = 2` last).
    /// A secondary waits until `ready_deadline` for `state == 2`, validates
    /// the superblock against `layout`, and attaches both rings.
    ///
    /// # Safety
    ///
    /// 1. `region` is valid for reads and writes of `len` bytes until the
    ///    `LinkMemory` and every view, claim or reference obtained from it
    ///    are dropped (for a mapping: unmap only after that).
    /// 2. Within this process, the region is accessed only through
    ///    `LinkMemory`s (any number, in any threads) and raw or atomic
    ///    accesses, never through Rust references created elsewhere.
    ///    Other processes may write anything at any time: that can garble
    ///    data and make operations fail with errors, but not cause undefined
    ///    behaviour here (beyond the documented zero-copy payload slices).
    /// 3. A fresh region is all zero bytes (as a new shared segment is).
    pub unsafe fn open(
        region: NonNull<u8>,
        len: usize,
        layout: Layout,
        ready_deadline: Instant,
    ) -> Result<LinkMemory, LinkMemoryOpenError> {
        if len < layout.total_size() {
            return Err(LinkMemoryOpenError::RegionTooSmall {
                len,
                needed: layout.total_size(),
            });
        }
        if region.as_ptr().align_offset(PAGE_SIZE as usize) != 0 {
            return Err(LinkMemoryOpenError::Misaligned);
        }
        // SAFETY: the region is page-aligned and at least one page long
        // (layout totals start with the superblock page), valid (contract 1)
        // and only accessed atomically here (contract 2).
        let superblock = unsafe { Superblock::from_ptr(region) };
        let at = |offset: usize| {
            // SAFETY: every layout offset is < total_size <= len.
            unsafe { region.add(offset) }
        };
        let ring_args = |d: Direction| {
            (
                at(layout.ring_offset(d)),
                layout.count(),
                at(layout.buffers_offset(d)),
                layout.size(),
            )
        };
        // SAFETY: page-aligned, one page long, valid (contracts 1, 2).
        let extension = unsafe { ExtensionBlock::at(region) };
        let role = superblock.elect();
        let (ring0, ring1) = match role {
            Role::Primary => {
                let init = |d: Direction| {
                    let (ring, count, buffers, size) = ring_args(d);
                    // SAFETY: (1) the ring and buffer regions lie inside the
                    // region (layout offsets + sizes <= total_size <= len);
                    // (2) we won the election, so nobody else touches them
                    // until `publish`; (3) contract 2.
                    let ring = unsafe { Ring::init(ring, count, buffers, size) }?;
                    // SAFETY: as above; zeroes the direction's buffer region.
                    unsafe { buffers.as_ptr().write_bytes(0, layout.buffers_bytes()) };
                    Ok::<Ring, RingInitError>(ring)
                };
                let rings = (
                    init(Direction::PrimaryToSecondary)?,
                    init(Direction::SecondaryToPrimary)?,
                );
                extension.initialize();
                superblock.publish(&layout);
                rings
            }
            Role::Secondary => {
                superblock.wait_ready(&layout, ready_deadline)?;
                let attach = |d: Direction| {
                    let (ring, count, buffers, size) = ring_args(d);
                    // SAFETY: the regions lie inside the region (as above),
                    // valid per contract 1, accessed per contract 2.
                    unsafe { Ring::attach(ring, count, buffers, size) }
                };
                (
                    attach(Direction::PrimaryToSecondary)?,
                    attach(Direction::SecondaryToPrimary)?,
                )
            }
        };
        let (mut ring0, mut ring1) = (ring0, ring1);
        if extension.is_present() {
            for (ring, d) in [
                (&mut ring0, Direction::PrimaryToSecondary),
                (&mut ring1, Direction::SecondaryToPrimary),
            ] {
                let data = [extension.data_seq(d), extension.data_waiters(d)].map(NonNull::from);
                let space = [extension.space_seq(d), extension.space_waiters(d)].map(NonNull::from);
                // SAFETY: the words live in the region's superblock page,
                // valid while the rings live (contract 1), and are accessed
                // only through atomics (contract 2).
                unsafe { ring.wake_shared(data, space) };
            }
        } else {
            ring0.wake_local();
            ring1.wake_local();
        }
        let (tx, rx) = match role {
            Role::Primary => (ring0, ring1),
            Role::Secondary => (ring1, ring0),
        };
        Ok(LinkMemory {
            region,
            layout,
            role,
            tx,
            rx,
            extension: extension.is_present().then(|| NonNull::from(extension)),
        })
    }

    /// Whether we initialized the segment (primary) or joined it.
    #[inline]
    pub fn role(&self) -> Role {
        self.role
    }

    /// The layout the region was opened with.
    #[inline]
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The ring we send on (ring 0 for the primary, ring 1 for a secondary).
    #[inline]
    pub fn tx(&self) -> &Ring {
        &self.tx
    }

    /// The ring we receive on (ring 1 for the primary, ring 0 for a secondary).
    #[inline]
    pub fn rx(&self) -> &Ring {
        &self.rx
    }

    /// Turns claim recording on for both rings, into the claim words of
    /// process-table entry `index` (our own registration; see
    /// [`crate::ring::claims`]). Does nothing without an extension block or
    /// for an index outside the table.
    pub fn record_claims(&mut self, index: usize) {
        let Some(entry) = self.extension().and_then(|e| e.process(index)) else {
            return;
        };
        let send = NonNull::from(&entry.send_claim);
        let recv = NonNull::from(&entry.recv_claim);
        let (tx, rx) = (self.role.tx() as u8, self.role.rx() as u8);
        // SAFETY: the words live in the region's superblock page, valid
        // while `self` (and so both rings) lives (open contract 1), and are
        // accessed only through atomics (contract 2).
        unsafe {
            self.tx.record_claims(send, recv, tx);
            self.rx.record_claims(send, recv, rx);
        }
    }

    /// The superblock.
    #[inline]
    pub fn superblock(&self) -> Superblock<'_> {
        // SAFETY: page-aligned and valid while `self` lives (open contract).
        unsafe { Superblock::from_ptr(self.region) }
    }

    /// The extension block, if the primary wrote one (a Go primary does not).
    #[inline]
    pub fn extension(&self) -> Option<&ExtensionBlock> {
        // SAFETY: points into the region, valid while `self` lives (open
        // contract); all fields are atomics.
        self.extension.map(|e| unsafe { e.as_ref() })
    }
}
