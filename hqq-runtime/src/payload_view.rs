//! [`PayloadView`]: received bytes that another process may be writing.
//!
//! A payload buffer lives in the shared segment, and a peer that breaks the
//! protocol can write it at any moment, also while we read it. A Rust
//! reference (`&[u8]`) would promise the compiler that nothing changes the
//! bytes while it lives, a promise the peer can break, so received payloads
//! are never lent out as references. They are lent out as a view instead,
//! in the manner of rust-vmm's `VolatileSlice`: a pointer and a length
//! whose every read is a volatile load, so each byte is read exactly once
//! per copy and the compiler assumes nothing about what it read.
//!
//! The bulk copy ([`PayloadView::copy_to_slice`], [`PayloadView::to_vec`])
//! moves 16-byte volatile vector loads on x86-64 (8-byte loads elsewhere),
//! which keeps it at `memcpy` speed for the sizes a buffer holds.

use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::ptr::NonNull;

/// Bytes of a received payload, read in place in shared memory.
///
/// A view is a pointer and a length; it borrows the claim or reservation it
/// came from, so the slot stays ours while the view lives. Its bytes can
/// still change under it if a peer breaks the protocol: read what you need
/// once (a header with [`read_u64_le`](Self::read_u64_le), the body with
/// [`copy_to_slice`](Self::copy_to_slice) or [`to_vec`](Self::to_vec)),
/// validate the copy, and never read the same byte twice expecting the same
/// value. Nothing a peer writes can make a view read out of bounds.
///
/// ```
/// use hqq_runtime::PayloadView;
///
/// let view = PayloadView::from_slice(b"\x02\x00\x00\x00\x00\x00\x00\x00ok");
/// assert_eq!(view.read_u64_le(0), Some(2));
/// let body = view.get(8..).expect("in bounds");
/// assert_eq!(body.to_vec(), b"ok");
/// assert_eq!(body, b"ok");
/// assert!(view.get(9..12).is_none());
/// ```
#[derive(Clone, Copy)]
pub struct PayloadView<'a> {
    start: NonNull<u8>,
    len: usize,
    _bytes: PhantomData<&'a [u8]>,
}

// SAFETY: a view only ever reads through volatile loads, from any thread;
// it is as shareable as the `&'a [u8]` its lifetime stands for (the owner
// it borrows keeps the bytes mapped).
unsafe impl Send for PayloadView<'_> {}
// SAFETY: as for `Send`: `&PayloadView` allows nothing but reads.
unsafe impl Sync for PayloadView<'_> {}

impl<'a> PayloadView<'a> {
    /// A view of `len` bytes at `start`.
    ///
    /// # Safety
    ///
    /// 1. `start..start + len` is valid for reads (mapped, one allocation or
    ///    mapping) for all of `'a`.
    /// 2. During `'a`, nobody in this process writes those bytes except
    ///    through raw-pointer or volatile writes (other processes may write
    ///    anything: that garbles what the view reads, nothing more).
    pub(crate) unsafe fn new(start: NonNull<u8>, len: usize) -> PayloadView<'a> {
        PayloadView {
            start,
            len,
            _bytes: PhantomData,
        }
    }

    /// A view of bytes this process owns, for tests and for code that
    /// handles received and local payloads alike.
    pub fn from_slice(bytes: &'a [u8]) -> PayloadView<'a> {
        PayloadView {
            start: NonNull::from(bytes).cast::<u8>(),
            len: bytes.len(),
            _bytes: PhantomData,
        }
    }

    /// Bytes in the view.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes in `range`, or `None` if it is not within the view.
    #[inline]
    pub fn get(&self, range: impl RangeBounds<usize>) -> Option<PayloadView<'a>> {
        let from = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.checked_add(1)?,
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(&e) => e.checked_add(1)?,
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len,
        };
        if from > to || to > self.len {
            return None;
        }
        Some(PayloadView {
            // `from <= len`: the pointer stays within (or one past) the view.
            start: NonNull::new(self.start.as_ptr().wrapping_add(from)).unwrap_or(self.start),
            len: to - from,
            _bytes: PhantomData,
        })
    }

    /// The view split at `mid`: `(..mid, mid..)`, or `None` if `mid > len`.
    #[inline]
    pub fn split_at(&self, mid: usize) -> Option<(PayloadView<'a>, PayloadView<'a>)> {
        Some((self.get(..mid)?, self.get(mid..)?))
    }

    /// Copies the first `min(self.len(), dst.len())` bytes into `dst` and
    /// returns how many it copied.
    #[inline]
    pub fn copy_to_slice(&self, dst: &mut [u8]) -> usize {
        let n = self.len.min(dst.len());
        // SAFETY: (1) n <= len, and the view is readable for `len` bytes
        // (`new`'s contract, or a slice for `from_slice`); (2) n <=
        // dst.len(); (3) `dst` is a `&mut` slice, so it is not the view's
        // memory (which no `&mut` can cover while the view borrows it).
        unsafe { volatile_copy(self.start.as_ptr(), dst.as_mut_ptr(), n) };
        n
    }

    /// Appends the view's bytes to `out`.
    pub fn extend_vec(&self, out: &mut Vec<u8>) {
        out.reserve(self.len);
        let spare = out.spare_capacity_mut();
        let n = self.len.min(spare.len());
        // SAFETY: as in `copy_to_slice`: `n` bytes of the view are readable
        // and `n` bytes of spare capacity writable, and they cannot overlap.
        unsafe { volatile_copy(self.start.as_ptr(), spare.as_mut_ptr().cast::<u8>(), n) };
        // SAFETY: the first `n` spare bytes were initialized just above and
        // `len + n <= capacity`.
        unsafe { out.set_len(out.len() + n) };
    }

    /// The view's bytes, copied into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.extend_vec(&mut out);
        out
    }

    /// The `N` bytes at `offset`, or `None` if they are not all within the view.
    #[inline]
    pub fn read_array<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        let end = offset.checked_add(N)?;
        (self.get(offset..end)?.copy_to_slice(&mut out) == N).then_some(out)
    }

    /// The byte at `offset`.
    #[inline]
    pub fn read_u8(&self, offset: usize) -> Option<u8> {
        self.read_array::<1>(offset).map(|[b]| b)
    }

    /// The little-endian `u16` at `offset`.
    #[inline]
    pub fn read_u16_le(&self, offset: usize) -> Option<u16> {
        self.read_array(offset).map(u16::from_le_bytes)
    }

    /// The little-endian `u32` at `offset`.
    #[inline]
    pub fn read_u32_le(&self, offset: usize) -> Option<u32> {
        self.read_array(offset).map(u32::from_le_bytes)
    }

    /// The little-endian `u64` at `offset`.
    #[inline]
    pub fn read_u64_le(&self, offset: usize) -> Option<u64> {
        self.read_array(offset).map(u64::from_le_bytes)
    }

    /// Consecutive views of `size` bytes (the last one shorter), for copying
    /// a payload out piece by piece. A `size` of 0 is taken as 1.
    pub fn chunks(&self, size: usize) -> Chunks<'a> {
        Chunks {
            rest: *self,
            size: size.max(1),
        }
    }

    /// Whether the view holds exactly `bytes` (compared piece by piece, each
    /// byte read once).
    fn equals(&self, bytes: &[u8]) -> bool {
        if self.len != bytes.len() {
            return false;
        }
        let mut piece = [0u8; 256];
        self.chunks(piece.len())
            .zip(bytes.chunks(piece.len()))
            .all(|(view, theirs)| {
                let n = view.copy_to_slice(&mut piece);
                piece.get(..n) == Some(theirs)
            })
    }
}

impl std::fmt::Debug for PayloadView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A snapshot of the bytes; they may change as they are printed.
        let mut head = [0u8; 32];
        let n = self.copy_to_slice(&mut head);
        let mut list = f.debug_list();
        list.entries(head.iter().take(n));
        if self.len > n {
            list.entry(&format_args!("... ({} bytes)", self.len));
        }
        list.finish()
    }
}

impl PartialEq<[u8]> for PayloadView<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        self.equals(other)
    }
}

impl PartialEq<&[u8]> for PayloadView<'_> {
    fn eq(&self, other: &&[u8]) -> bool {
        self.equals(other)
    }
}

impl<const N: usize> PartialEq<[u8; N]> for PayloadView<'_> {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.equals(other)
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for PayloadView<'_> {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.equals(*other)
    }
}

/// The pieces of a view ([`PayloadView::chunks`]).
#[derive(Clone, Debug)]
pub struct Chunks<'a> {
    rest: PayloadView<'a>,
    size: usize,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = PayloadView<'a>;

    fn next(&mut self) -> Option<PayloadView<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (piece, rest) = self.rest.split_at(self.size.min(self.rest.len))?;
        self.rest = rest;
        Some(piece)
    }
}

/// Copies `n` bytes from `src` to `dst`, reading each source byte exactly
/// once with volatile loads: bytes up to 32-byte alignment of `src`, then
/// aligned 32-byte blocks of wide loads, then 8-byte words, then bytes.
///
/// # Safety
///
/// `src` is valid for reads and `dst` for writes of `n` bytes, and the two
/// ranges do not overlap.
#[inline]
unsafe fn volatile_copy(src: *const u8, dst: *mut u8, n: usize) {
    let head = src.align_offset(BLOCK).min(n);
    // SAFETY: head <= n (caller's contract covers all n bytes).
    unsafe { copy_units::<u8>(src, dst, head) };
    let body = (n - head) / BLOCK * BLOCK;
    // SAFETY: head + body <= n; `src + head` is BLOCK-aligned.
    unsafe { copy_blocks(src.add(head), dst.add(head), body) };
    let mut done = head + body;
    let words = (n - done) / 8 * 8;
    // SAFETY: done + words <= n; `src + done` is still 8-aligned.
    unsafe { copy_units::<u64>(src.add(done), dst.add(done), words) };
    done += words;
    // SAFETY: done <= n.
    unsafe { copy_units::<u8>(src.add(done), dst.add(done), n - done) };
}

/// Bytes of one block of wide loads, and the source alignment it needs.
const BLOCK: usize = 32;

/// The shortest copy that takes the AVX2 path.
#[cfg(target_arch = "x86_64")]
const AVX2_FROM: usize = 512;

/// Copies `n` bytes as `T`s, one volatile load each.
///
/// # Safety
///
/// As for [`volatile_copy`]; `src` is aligned for `T` and `n` a multiple
/// of its size.
#[inline(always)]
unsafe fn copy_units<T: Copy>(src: *const u8, dst: *mut u8, n: usize) {
    let (src, dst) = (src.cast::<T>(), dst.cast::<T>());
    for i in 0..n / std::mem::size_of::<T>() {
        // SAFETY: unit i lies within the n bytes (caller); `src` is aligned
        // for T; the store tolerates any alignment.
        unsafe { dst.add(i).write_unaligned(src.add(i).read_volatile()) };
    }
}

/// Copies `n` bytes in 32-byte blocks: one AVX2 load per block where the
/// processor has it, two SSE2 loads otherwise.
///
/// # Safety
///
/// As for [`volatile_copy`]; `src` is 32-byte aligned and `n` a multiple
/// of 32.
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn copy_blocks(src: *const u8, dst: *mut u8, n: usize) {
    use std::arch::x86_64::__m128i;
    // A short copy is done before the call to the AVX2 function (which
    // cannot be inlined here) would pay off.
    #[cfg(not(miri))]
    if n >= AVX2_FROM && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the caller's contract, and the processor has AVX2.
        return unsafe { copy_blocks_avx2(src, dst, n) };
    }
    // SAFETY: the caller's contract; 32-byte alignment is 16-byte alignment.
    unsafe { copy_units::<__m128i>(src, dst, n) }
}

/// # Safety
///
/// As for [`copy_blocks`], and the processor supports AVX2.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[target_feature(enable = "avx2")]
unsafe fn copy_blocks_avx2(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: the caller's contract; `src` is 32-byte aligned, as `__m256i`
    // loads need.
    unsafe { copy_units::<std::arch::x86_64::__m256i>(src, dst, n) }
}

/// # Safety
///
/// As for [`volatile_copy`]; `src` is 32-byte aligned and `n` a multiple
/// of 32.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
unsafe fn copy_blocks(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: the caller's contract; 32-byte alignment is 8-byte alignment.
    unsafe { copy_units::<u64>(src, dst, n) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..20 {
            for len in [0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 280 - start] {
                let view = PayloadView::from_slice(&data[start..start + len]);
                assert_eq!(view.to_vec(), &data[start..start + len]);
                let mut short = [0u8; 9];
                let n = view.copy_to_slice(&mut short);
                assert_eq!(n, len.min(9));
                assert_eq!(&short[..n], &data[start..start + n]);
            }
        }
    }

    #[test]
    fn long_copies_take_the_wide_path_intact() {
        let data: Vec<u8> = (0..9000u32).map(|i| (i * 13 + i / 256) as u8).collect();
        for start in [0, 1, 8, 31, 32, 33] {
            for len in [511, 512, 4096, 4097, 8191] {
                let view = PayloadView::from_slice(&data[start..start + len]);
                assert_eq!(view.to_vec(), &data[start..start + len], "{start} {len}");
            }
        }
    }

    #[test]
    fn subviews_are_checked() {
        let view = PayloadView::from_slice(b"abcdef");
        assert_eq!(view.get(2..4).map(|v| v.to_vec()), Some(b"cd".to_vec()));
        assert_eq!(view.get(..=5).map(|v| v.len()), Some(6));
        assert!(view.get(..=6).is_none());
        let (from, to) = (4, 3);
        assert!(view.get(from..to).is_none());
        assert!(view.get(usize::MAX..).is_none());
        assert!(view.get(..usize::MAX).is_none());
        assert_eq!(view.read_u16_le(4), Some(u16::from_le_bytes(*b"ef")));
        assert_eq!(view.read_u16_le(5), None);
        assert_eq!(view.read_u64_le(usize::MAX), None);
        assert!(view.split_at(7).is_none());
    }

    #[test]
    fn chunks_cover_the_view() {
        let view = PayloadView::from_slice(b"abcdefg");
        let pieces: Vec<Vec<u8>> = view.chunks(3).map(|c| c.to_vec()).collect();
        assert_eq!(pieces, [b"abc".to_vec(), b"def".to_vec(), b"g".to_vec()]);
        assert_eq!(view.chunks(0).count(), 7);
        assert!(view != b"abcdefh");
        assert!(view == b"abcdefg");
    }
}
