//! The page layout of one Standard-link segment (wire-compat.md, "Segment layout").
//!
//! ```text
//! 0        superblock page (64 bytes of wire fields, our extension block at 64..4096)
//! P=4096   ring 0 (primary -> secondary), ring_bytes, padded to a page
//! B0       buffers 0: count * size bytes, padded to a page
//! R1       ring 1 (secondary -> primary), ring_bytes, padded to a page
//! B1       buffers 1: count * size bytes, padded to a page
//! total
//! ```
//!
//! `ring_bytes = 256 + 256 + 72 * count`: the ring header, a second 256 bytes
//! the established implementation reserves, then `count` slots of 72 bytes.
//! Every step is computed with checked arithmetic, because [`Layout::new`] is
//! also fed values read from a peer's superblock.

/// The page size the wire layout is defined for, in bytes.
pub const PAGE_SIZE: u64 = 4096;

/// Size of the ring header block, in bytes (slots start right after it).
pub const RING_HEADER_SIZE: u64 = 256;

/// Bytes the established implementation reserves after the slots of a ring.
pub const RING_RESERVED_SIZE: u64 = 256;

/// Size of one ring slot: a 64-byte packet then its `u64` sequence number.
pub const RING_SLOT_SIZE: u64 = 72;

/// Offset of ring 0 in the segment: the page after the superblock.
pub const RING0_OFFSET: u64 = PAGE_SIZE;

const _: () = assert!(RING_SLOT_SIZE == crate::packet::PACKET_SIZE as u64 + 8);
const _: () = assert!(RING0_OFFSET == 4096);

/// The direction of a ring and its buffer region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Ring 0 and buffers 0: the primary sends, secondaries receive.
    PrimaryToSecondary = 0,
    /// Ring 1 and buffers 1: secondaries send, the primary receives.
    SecondaryToPrimary = 1,
}

/// Why a `(count, size)` pair has no valid layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// `count` is not a power of two at least 2.
    #[error("slot count {0} is not a power of two >= 2")]
    InvalidCount(u64),
    /// `size` is below 8 or not a multiple of 8.
    #[error("buffer size {0} is not a multiple of 8 that is >= 8")]
    InvalidSize(u64),
    /// The segment size does not fit in 64 bits or in this process's address space.
    #[error("a segment of {count} buffers of {size} bytes does not fit in the address space")]
    TooLarge {
        /// The requested slot count.
        count: u64,
        /// The requested buffer size.
        size: u64,
    },
    /// The OS page size is not the 4096 bytes the layout is defined for.
    #[error("the OS page size is {0} bytes; HQQ segments are laid out for 4096-byte pages")]
    UnsupportedPageSize(u64),
}

/// Offsets and sizes of every region of a segment for one `(count, size)`.
///
/// ```
/// use hqq_runtime::layout::Layout;
///
/// let layout = Layout::new(4, 64)?;
/// assert_eq!(layout.total_size(), 20480);
/// assert_eq!(layout.buffers0_offset(), 8192);
/// assert_eq!(layout.ring1_offset(), 12288);
/// # Ok::<(), hqq_runtime::layout::LayoutError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    count: u64,
    size: u64,
    ring_bytes: usize,
    buffers_bytes: usize,
    buffers0: usize,
    ring1: usize,
    buffers1: usize,
    total: usize,
}

fn align_page(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

/// The OS page size, as `sysconf(_SC_PAGESIZE)` reports it.
fn os_page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(page).unwrap_or(0)
}

impl Layout {
    /// The layout for `count` slots of `size`-byte buffers per direction.
    ///
    /// `count` must be a power of two >= 2, `size` a multiple of 8 that is
    /// >= 8, the OS page size 4096, and the total must fit in `usize`.
    pub fn new(count: u64, size: u64) -> Result<Layout, LayoutError> {
        let page = os_page_size();
        if page != PAGE_SIZE {
            return Err(LayoutError::UnsupportedPageSize(page));
        }
        Self::compute(count, size)
    }

    fn compute(count: u64, size: u64) -> Result<Layout, LayoutError> {
        if count < 2 || !count.is_power_of_two() {
            return Err(LayoutError::InvalidCount(count));
        }
        if size < 8 || size % 8 != 0 {
            return Err(LayoutError::InvalidSize(size));
        }
        let too_large = LayoutError::TooLarge { count, size };
        let ring_bytes = count
            .checked_mul(RING_SLOT_SIZE)
            .and_then(|s| s.checked_add(RING_HEADER_SIZE + RING_RESERVED_SIZE))
            .ok_or(too_large)?;
        let buffers_bytes = count.checked_mul(size).ok_or(too_large)?;
        let buffers0 = RING0_OFFSET
            .checked_add(ring_bytes)
            .and_then(align_page)
            .ok_or(too_large)?;
        let ring1 = buffers0
            .checked_add(buffers_bytes)
            .and_then(align_page)
            .ok_or(too_large)?;
        let buffers1 = ring1
            .checked_add(ring_bytes)
            .and_then(align_page)
            .ok_or(too_large)?;
        let total = buffers1
            .checked_add(buffers_bytes)
            .and_then(align_page)
            .ok_or(too_large)?;
        // Pointer offsets must also fit in isize.
        if total > isize::MAX as u64 {
            return Err(too_large);
        }
        let to_usize = |v: u64| usize::try_from(v).map_err(|_| too_large);
        Ok(Layout {
            count,
            size,
            ring_bytes: to_usize(ring_bytes)?,
            buffers_bytes: to_usize(buffers_bytes)?,
            buffers0: to_usize(buffers0)?,
            ring1: to_usize(ring1)?,
            buffers1: to_usize(buffers1)?,
            total: to_usize(total)?,
        })
    }

    /// Ring slots (and payload buffers) per direction.
    #[inline]
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// Bytes per payload buffer.
    #[inline]
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The page size the layout uses (4096).
    #[inline]
    pub const fn page_size(&self) -> u64 {
        PAGE_SIZE
    }

    /// Offset of the superblock (0).
    #[inline]
    pub const fn superblock_offset(&self) -> usize {
        0
    }

    /// Offset of ring 0 (primary -> secondary): 4096.
    #[inline]
    pub const fn ring0_offset(&self) -> usize {
        RING0_OFFSET as usize
    }

    /// Offset of buffers 0 (owned by the slots of ring 0).
    #[inline]
    pub const fn buffers0_offset(&self) -> usize {
        self.buffers0
    }

    /// Offset of ring 1 (secondary -> primary).
    #[inline]
    pub const fn ring1_offset(&self) -> usize {
        self.ring1
    }

    /// Offset of buffers 1 (owned by the slots of ring 1).
    #[inline]
    pub const fn buffers1_offset(&self) -> usize {
        self.buffers1
    }

    /// Offset of the ring of `direction`.
    #[inline]
    pub const fn ring_offset(&self, direction: Direction) -> usize {
        match direction {
            Direction::PrimaryToSecondary => self.ring0_offset(),
            Direction::SecondaryToPrimary => self.ring1,
        }
    }

    /// Offset of the buffer region of `direction`.
    #[inline]
    pub const fn buffers_offset(&self, direction: Direction) -> usize {
        match direction {
            Direction::PrimaryToSecondary => self.buffers0,
            Direction::SecondaryToPrimary => self.buffers1,
        }
    }

    /// Bytes of one ring: `256 + 256 + 72 * count` (without page padding).
    #[inline]
    pub const fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// Bytes of one buffer region: `count * size` (without page padding).
    #[inline]
    pub const fn buffers_bytes(&self) -> usize {
        self.buffers_bytes
    }

    /// Total segment size, a multiple of the page size.
    #[inline]
    pub const fn total_size(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_compat_vectors() {
        for (count, size, total) in [
            (2, 8, 20480),
            (4, 64, 20480),
            (16, 4096, 143360),
            (1024, 4096, 8548352),
            (256, 65536, 33599488),
        ] {
            let layout = Layout::new(count, size).unwrap();
            assert_eq!(layout.total_size(), total, "({count}, {size})");
            assert_eq!(layout.ring_bytes() as u64, 512 + 72 * count);
            assert_eq!(layout.buffers_bytes() as u64, count * size);
            for offset in [
                layout.ring0_offset(),
                layout.buffers0_offset(),
                layout.ring1_offset(),
                layout.buffers1_offset(),
            ] {
                assert_eq!(offset % 4096, 0);
            }
            assert!(layout.buffers0_offset() >= layout.ring0_offset() + layout.ring_bytes());
            assert!(layout.ring1_offset() >= layout.buffers0_offset() + layout.buffers_bytes());
            assert!(layout.buffers1_offset() >= layout.ring1_offset() + layout.ring_bytes());
            assert!(layout.total_size() >= layout.buffers1_offset() + layout.buffers_bytes());
        }
    }

    #[test]
    fn golden_4x64_offsets() {
        let layout = Layout::new(4, 64).unwrap();
        assert_eq!(layout.ring_offset(Direction::PrimaryToSecondary), 0x1000);
        assert_eq!(layout.buffers_offset(Direction::PrimaryToSecondary), 0x2000);
        assert_eq!(layout.ring_offset(Direction::SecondaryToPrimary), 0x3000);
        assert_eq!(layout.buffers_offset(Direction::SecondaryToPrimary), 0x4000);
    }

    #[test]
    fn invalid_inputs() {
        assert_eq!(Layout::new(3, 8), Err(LayoutError::InvalidCount(3)));
        assert_eq!(Layout::new(4, 12), Err(LayoutError::InvalidSize(12)));
        assert_eq!(Layout::new(0, 8), Err(LayoutError::InvalidCount(0)));
        assert_eq!(Layout::new(1, 8), Err(LayoutError::InvalidCount(1)));
        assert_eq!(Layout::new(2, 0), Err(LayoutError::InvalidSize(0)));
    }

    #[test]
    fn absurd_values_are_errors() {
        for (count, size) in [
            (1 << 63, 8),
            (1 << 62, 8),
            (2, u64::MAX - 7),
            (1 << 32, 1 << 32),
            (1 << 44, 1 << 20),
            (1 << 61, 8),
        ] {
            assert_eq!(
                Layout::new(count, size),
                Err(LayoutError::TooLarge { count, size }),
                "({count}, {size})"
            );
        }
    }
}
