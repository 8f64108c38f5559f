//! The bounded MPMC ring of wire-compat.md ("Ring"), over memory shared with
//! an untrusted peer, and the payload buffers its slots own.
//!
//! The algorithm is Dmitry Vyukov's bounded MPMC queue with per-slot sequence
//! numbers (see the private `mpmc` module for the encoding and the corruption
//! checks). This module lays it over the wire format:
//!
//! ```text
//! ring + 0     magic 0xc9d8c1d43f096701
//! ring + 8     slot count (a power of two)
//! ring + 16    flags: value 2 = initialized
//! ring + 24    read position r (consumers)
//! ring + 128   write position w (producers; its own cache line)
//! ring + 256   slot i at 256 + 72 * i: 64-byte packet, then seq (u64)
//! ```
//!
//! Slot `i` owns payload buffer `i` of the direction's buffer region:
//! `buffers[i * size .. (i + 1) * size]`. A producer claims a slot
//! ([`Ring::try_claim_send`]), fills the buffer, and commits a packet; a
//! consumer claims it ([`Ring::try_claim_recv`]), reads packet and buffer,
//! and releases it. Both guards act on drop: an uncommitted [`SendClaim`]
//! publishes a StandardLinkTombstone so the ring keeps moving, and a
//! [`RecvClaim`] releases its slot.
//!
//! A process killed while it holds a claim would stall everyone behind the
//! slot. With claim recording on ([`Ring::record_claims`], which links do
//! when the segment has our extension block), each claim stores the won
//! position in the process's table entry, and a survivor completes a dead
//! process's slot with [`Ring::recover_dead_claims`]; see
//! [`claims`] for the invariants and races.
//!
//! Every word of the ring is read and written with atomics; the
//! configuration (`count`, mask, base pointers) is read once at
//! [`Ring::init`]/[`Ring::attach`] and never again, so a peer that rewrites
//! the header cannot steer our indices.

mod atomic;
pub mod claims;
mod idle;
#[cfg(all(test, loom))]
mod loom_model;
mod mpmc;
mod owners;
mod prefetch;
#[cfg(all(test, not(loom)))]
mod tests;

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use self::claims::ClaimKind;
pub use self::claims::RecoveredClaims;
pub use self::idle::{Idle, IdleOutcome, PollingIdle};
use self::mpmc::{ClaimFailure, Recorder, RingCore, Slots};
use self::owners::SlotOwners;
use self::prefetch::{prefetch_read, prefetch_write};
use crate::extension::ExtensionBlock;
use crate::layout::{RING_HEADER_SIZE, RING_RESERVED_SIZE, RING_SLOT_SIZE};
use crate::packet::Packet;
use crate::payload_view::PayloadView;

/// Bytes per cache line, the unit of prefetch hints.
const CACHE_LINE: usize = 64;

/// The ring header magic (offset 0).
pub const RING_MAGIC: u64 = 0xc9d8_c1d4_3f09_6701;

/// The `flags` bit (value 2) that says the ring is initialized.
pub const RING_FLAG_INITIALIZED: u64 = 2;

/// Opcode of StandardLinkTombstone (wire-compat.md, "Opcodes").
const OPCODE_STANDARD_LINK_TOMBSTONE: u8 = 0xFE;

/// Tombstone reason (operand 2) of a [`SendClaim`] dropped without commit.
///
/// wire-compat.md leaves tombstone reason codes open; this is ours. Peers
/// skip a tombstone whatever its reason.
pub const TOMBSTONE_REASON_CLAIM_DROPPED: u64 = 1;

/// Tombstone reason (operand 2) of a slot whose producer died holding the
/// claim, published by a survivor ([`Ring::recover_dead_claims`]).
pub const TOMBSTONE_REASON_CLAIMANT_DIED: u64 = 2;

/// The ring header as it sits in memory (wire-compat.md, "Ring").
#[repr(C)]
struct RingHeader {
    magic: AtomicU64,
    count: AtomicU64,
    flags: AtomicU64,
    read: AtomicU64,
    _reserved0: [AtomicU64; 12],
    write: AtomicU64,
    _reserved1: [AtomicU64; 15],
}

/// One slot: the packet, then its sequence number.
#[repr(C)]
struct RingSlot {
    packet: [AtomicU64; 8],
    seq: AtomicU64,
}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(RingHeader, magic) == 0);
    assert!(offset_of!(RingHeader, count) == 8);
    assert!(offset_of!(RingHeader, flags) == 16);
    assert!(offset_of!(RingHeader, read) == 24);
    assert!(offset_of!(RingHeader, write) == 128);
    assert!(size_of::<RingHeader>() as u64 == RING_HEADER_SIZE);
    assert!(offset_of!(RingSlot, packet) == 0);
    assert!(offset_of!(RingSlot, seq) == 64);
    assert!(size_of::<RingSlot>() as u64 == RING_SLOT_SIZE);
};

/// Bytes a ring of `count` slots occupies: `256 + 256 + 72 * count`, or
/// `None` if that overflows.
pub const fn ring_bytes(count: u64) -> Option<usize> {
    let slots = match count.checked_mul(RING_SLOT_SIZE) {
        Some(v) => v,
        None => return None,
    };
    match slots.checked_add(RING_HEADER_SIZE + RING_RESERVED_SIZE) {
        Some(v) if v <= isize::MAX as u64 => Some(v as usize),
        _ => None,
    }
}

/// The ring's memory in a shared region, and its payload buffers.
struct SharedSlots {
    header: NonNull<RingHeader>,
    slots: NonNull<RingSlot>,
    buffers: NonNull<u8>,
    buffer_size: usize,
}

impl SharedSlots {
    #[inline(always)]
    fn header(&self) -> &RingHeader {
        // SAFETY: the `Ring::init`/`Ring::attach` contract keeps the header
        // valid and aligned while the ring lives; all its fields are atomics,
        // so a shared reference tolerates concurrent writes by the peer.
        unsafe { self.header.as_ref() }
    }

    /// # Safety
    ///
    /// `index < count`.
    #[inline(always)]
    unsafe fn slot(&self, index: usize) -> &RingSlot {
        // SAFETY: (1) index < count (caller), and the init/attach contract
        // makes `count` slots valid and aligned while the ring lives;
        // (2) all fields are atomics, so concurrent peer writes are fine.
        unsafe { self.slots.add(index).as_ref() }
    }

    /// The start of buffer `index` (computed with wrapping arithmetic: in
    /// bounds only if `index < count`).
    #[inline(always)]
    fn buffer(&self, index: usize) -> *mut u8 {
        self.buffers
            .as_ptr()
            .wrapping_add(index.wrapping_mul(self.buffer_size))
    }
}

/// The packet of `words`, built in 16-byte registers.
///
/// The claim returns its packet through memory that the caller then
/// copies with 16-byte loads; a packet written there as eight 8-byte
/// stores (as the word-wise atomic loads would leave it) defeats
/// store-to-load forwarding and stalls every such copy.
#[inline(always)]
fn packet_in_vector_registers(words: [u64; 8]) -> Packet {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_set_epi64x};
        // SAFETY: SSE2 is part of the x86-64 baseline.
        let pair = |lo: u64, hi: u64| unsafe { _mm_set_epi64x(hi as i64, lo as i64) };
        let vectors: [__m128i; 4] = [
            pair(words[0], words[1]),
            pair(words[2], words[3]),
            pair(words[4], words[5]),
            pair(words[6], words[7]),
        ];
        // SAFETY: four `__m128i` and eight `u64` are both 64 plain bytes,
        // every bit pattern valid for each.
        Packet::from_words(unsafe { std::mem::transmute::<[__m128i; 4], [u64; 8]>(vectors) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    Packet::from_words(words)
}

impl Slots for SharedSlots {
    type Word = AtomicU64;

    #[inline(always)]
    fn read_position(&self) -> &AtomicU64 {
        &self.header().read
    }

    #[inline(always)]
    fn write_position(&self) -> &AtomicU64 {
        &self.header().write
    }

    #[inline(always)]
    unsafe fn seq(&self, index: usize) -> &AtomicU64 {
        // SAFETY: index < count (caller).
        unsafe { &self.slot(index).seq }
    }

    #[inline(always)]
    unsafe fn store_packet(&self, index: usize, packet: &Packet) {
        // SAFETY: index < count (caller).
        let slot = unsafe { self.slot(index) };
        // Relaxed: published by the Release store of `seq` that follows.
        for (cell, word) in slot.packet.iter().zip(packet.words()) {
            cell.store(word, Ordering::Relaxed);
        }
    }

    #[inline(always)]
    unsafe fn load_packet(&self, index: usize) -> Packet {
        // SAFETY: index < count (caller).
        let slot = unsafe { self.slot(index) };
        // Relaxed: ordered after the Acquire load of `seq` that let us claim.
        let words = std::array::from_fn(|i| slot.packet[i].load(Ordering::Relaxed));
        packet_in_vector_registers(words)
    }

    #[inline(always)]
    fn will_consume(&self, index: usize) {
        // The seq word shares its line with the packet's end; fetch the
        // packet's start and the payload's first line alongside.
        // `wrapping_add`: a hint needs no in-bounds pointer (index < count
        // here anyway).
        let slot = self.slots.as_ptr().wrapping_add(index);
        prefetch_read(slot.cast::<u8>());
        prefetch_read(self.buffer(index));
    }

    #[inline(always)]
    fn will_produce(&self, index: usize) {
        // Read the next slot's seq line while idle, so the next claim finds
        // it cached instead of fetching it from the consumer's core.
        let slot = self.slots.as_ptr().wrapping_add(index);
        prefetch_read(
            slot.cast::<u8>()
                .wrapping_add(std::mem::offset_of!(RingSlot, seq)),
        );
    }

    #[inline(always)]
    fn will_fill(&self, index: usize) {
        // The packet's first line holds the previous slot's seq, which the
        // consumer wrote when it released that slot: fetch it for writing
        // now rather than when the packet is stored.
        prefetch_write(self.slots.as_ptr().wrapping_add(index).cast::<u8>());
        prefetch_write(self.buffer(index));
    }
}

/// Why a ring cannot be laid over the given memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingInitError {
    /// The slot count is not a power of two >= 2 (or absurdly large).
    #[error("ring slot count {0} is not a power of two >= 2")]
    InvalidCount(u64),
    /// `count * buffer_size` does not fit in the address space, or the size is 0.
    #[error("ring buffer size {0} is zero or too large for the slot count")]
    InvalidBufferSize(u64),
    /// The ring memory is not 8-byte aligned.
    #[error("ring memory is not 8-byte aligned")]
    Misaligned,
}

/// Why an existing ring cannot be attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingAttachError {
    /// Our own configuration is invalid.
    #[error(transparent)]
    Config(#[from] RingInitError),
    /// The initialized flag is not set.
    #[error("ring is not initialized (flags {0:#x})")]
    NotInitialized(u64),
    /// The header magic is wrong.
    #[error("ring magic is {0:#018x}, expected 0xc9d8c1d43f096701")]
    WrongMagic(u64),
    /// The header's slot count differs from ours.
    #[error("ring has {theirs} slots, expected {ours}")]
    CountMismatch {
        /// Our slot count.
        ours: u64,
        /// The count in the header.
        theirs: u64,
    },
}

/// Why [`Ring::try_claim_send`] did not return a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingSendError {
    /// Every slot is published or still held by a consumer.
    #[error("ring is full")]
    Full,
    /// Lost many races in a row; try again.
    #[error("ring write position is heavily contended")]
    Contended,
    /// The ring is in a state no correct peer produces.
    #[error("ring state is corrupt")]
    Corrupt,
}

/// Why [`Ring::try_claim_recv`] or [`Ring::try_recv_batch`] returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingRecvError {
    /// No slot is published.
    #[error("ring is empty")]
    Empty,
    /// Lost many races in a row; try again.
    #[error("ring read position is heavily contended")]
    Contended,
    /// The ring is in a state no correct peer produces.
    #[error("ring state is corrupt")]
    Corrupt,
}

/// Why a blocking send claim failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingSendWaitError {
    /// The deadline passed while the ring stayed full.
    #[error("timed out waiting for a free ring slot")]
    TimedOut,
    /// The ring is in a state no correct peer produces.
    #[error("ring state is corrupt")]
    Corrupt,
}

/// Why a blocking receive claim failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingRecvWaitError {
    /// The deadline passed while the ring stayed empty.
    #[error("timed out waiting for a published ring slot")]
    TimedOut,
    /// The ring is in a state no correct peer produces.
    #[error("ring state is corrupt")]
    Corrupt,
}

/// A payload length that does not fit a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingPayloadError {
    /// `len` exceeds the buffer size or the caller's slice.
    #[error("payload of {len} bytes exceeds the {capacity} bytes available")]
    TooLong {
        /// The requested length.
        len: u64,
        /// The bytes available.
        capacity: u64,
    },
}

/// One direction of a link: a ring and the payload buffers its slots own.
///
/// `Ring` is a view: it does not own the memory, and the contracts of
/// [`Ring::init`] and [`Ring::attach`] keep the memory alive. It is `Send`
/// and `Sync`; any number of threads (and processes) may produce and consume
/// concurrently.
pub struct Ring {
    core: RingCore<SharedSlots>,
    records: Option<ClaimRecords>,
    /// Which slots claims of this process hold (see [`owners`]).
    owners: Arc<SlotOwners>,
    wake: Wake,
}

/// Whom a publish or release on this ring wakes.
enum Wake {
    /// Nobody parks on this ring (a ring used directly, which only polls).
    Off,
    /// Threads of this process parked on [`Ring::data_event`] and
    /// [`Ring::space_event`], which are then process-local words.
    Local(Box<[AtomicU32; 2]>),
    /// Processes parked on the link's wake words in the extension block.
    Shared(SharedWake),
}

/// The extension block's event words of one direction (see [`crate::wait`]).
struct SharedWake {
    data: [NonNull<AtomicU32>; 2],
    space: [NonNull<AtomicU32>; 2],
    /// `futex_wake` calls made by this process's notifies on this ring.
    wakes: AtomicU64,
}

/// The `seq` and `waiters` words of one event, as
/// [`EventCount`](crate::wait::EventCount) takes them.
pub type EventWords<'a> = (&'a AtomicU32, &'a AtomicU32);

/// This process's claim record words for one ring (see [`claims`]).
struct ClaimRecords {
    send: NonNull<AtomicU64>,
    recv: NonNull<AtomicU64>,
    /// The record bits naming this ring.
    tag: u64,
}

// SAFETY: `Ring` only holds pointers into shared memory; every access to the
// ring goes through atomics, and buffer access within this process is tied
// to the slot's flag in `owners` (process-private memory the peer cannot
// reach), which exactly one claim at a time can hold.
unsafe impl Send for Ring {}
// SAFETY: as for `Send`: `&Ring` methods are safe to call concurrently.
unsafe impl Sync for Ring {}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("count", &self.core.count())
            .field("buffer_size", &self.buffer_size())
            .finish_non_exhaustive()
    }
}

/// Validates a configuration and returns `(count, buffer_size)` in usable form.
fn check_config(ring: NonNull<u8>, count: u64, buffer_size: u64) -> Result<usize, RingInitError> {
    if count < 2 || !count.is_power_of_two() || ring_bytes(count).is_none() {
        return Err(RingInitError::InvalidCount(count));
    }
    let buffers_fit = count
        .checked_mul(buffer_size)
        .is_some_and(|b| b <= isize::MAX as u64);
    if buffer_size == 0 || !buffers_fit {
        return Err(RingInitError::InvalidBufferSize(buffer_size));
    }
    if ring
        .as_ptr()
        .align_offset(std::mem::align_of::<RingHeader>())
        != 0
    {
        return Err(RingInitError::Misaligned);
    }
    usize::try_from(buffer_size).map_err(|_| RingInitError::InvalidBufferSize(buffer_size))
}

impl Ring {
    fn from_parts(ring: NonNull<u8>, count: u64, buffers: NonNull<u8>, size: usize) -> Ring {
        let header = ring.cast::<RingHeader>();
        // SAFETY: the slots start RING_HEADER_SIZE (256) bytes in, within the
        // `ring_bytes(count)` bytes the caller of init/attach vouched for.
        let slots = unsafe { ring.add(RING_HEADER_SIZE as usize) }.cast::<RingSlot>();
        Ring {
            core: RingCore::new(
                SharedSlots {
                    header,
                    slots,
                    buffers,
                    buffer_size: size,
                },
                count,
            ),
            records: None,
            owners: SlotOwners::for_ring(ring.as_ptr() as usize, count as usize),
            wake: Wake::Off,
        }
    }

    /// Creates a ring of `count` slots at `ring`: zeroes its
    /// [`ring_bytes`]`(count)` bytes, writes the header, `seq = i` for every
    /// slot, `r = w = 0`, and sets the initialized flag last (`Release`).
    /// The buffers are left as they are.
    ///
    /// # Safety
    ///
    /// 1. `ring` is valid for reads and writes of `ring_bytes(count)` bytes
    ///    and `buffers` of `count * buffer_size` bytes (only checked
    ///    arithmetic is done on them), and both stay valid while the
    ///    returned `Ring` or any claim from it lives.
    /// 2. Nobody else accesses the ring memory during this call.
    /// 3. Afterwards, nobody in this process accesses the memory except
    ///    through atomics or raw-pointer copies, or through other `Ring`s
    ///    at the same address with the same `count`, `buffers` and
    ///    `buffer_size` (other processes may do anything, which can garble
    ///    data but not cause undefined behaviour here).
    pub unsafe fn init(
        ring: NonNull<u8>,
        count: u64,
        buffers: NonNull<u8>,
        buffer_size: u64,
    ) -> Result<Ring, RingInitError> {
        let size = check_config(ring, count, buffer_size)?;
        let bytes = ring_bytes(count).ok_or(RingInitError::InvalidCount(count))?;
        // SAFETY: contract 1 (the region is ours and valid) and 2 (nobody
        // else looks at it yet).
        unsafe { ring.as_ptr().write_bytes(0, bytes) };
        let this = Ring::from_parts(ring, count, buffers, size);
        let header = this.core_slots().header();
        header.magic.store(RING_MAGIC, Ordering::Relaxed);
        header.count.store(count, Ordering::Relaxed);
        header.read.store(0, Ordering::Relaxed);
        header.write.store(0, Ordering::Relaxed);
        for i in 0..count {
            // Relaxed: published by the Release store of `flags` below.
            this.core_seq_init(i);
        }
        // Release: pairs with the Acquire load of `flags` in `attach`.
        header.flags.store(RING_FLAG_INITIALIZED, Ordering::Release);
        Ok(this)
    }

    /// Attaches to a ring another party initialized, checking its magic,
    /// initialized flag and slot count against ours.
    ///
    /// The count in the header is only compared, never used: the ring keeps
    /// using `count`.
    ///
    /// # Safety
    ///
    /// Conditions 1 and 3 of [`Ring::init`].
    pub unsafe fn attach(
        ring: NonNull<u8>,
        count: u64,
        buffers: NonNull<u8>,
        buffer_size: u64,
    ) -> Result<Ring, RingAttachError> {
        let size = check_config(ring, count, buffer_size)?;
        let this = Ring::from_parts(ring, count, buffers, size);
        let header = this.core_slots().header();
        // Acquire: pairs with the Release store of `flags` in `init`.
        let flags = header.flags.load(Ordering::Acquire);
        if flags & RING_FLAG_INITIALIZED == 0 {
            return Err(RingAttachError::NotInitialized(flags));
        }
        let magic = header.magic.load(Ordering::Relaxed);
        if magic != RING_MAGIC {
            return Err(RingAttachError::WrongMagic(magic));
        }
        let theirs = header.count.load(Ordering::Relaxed);
        if theirs != count {
            return Err(RingAttachError::CountMismatch {
                ours: count,
                theirs,
            });
        }
        Ok(this)
    }

    /// Turns claim recording on: from now on every claim from this `Ring`
    /// stores the won position in `send` (as a producer) or `recv` (as a
    /// consumer), naming the ring as `ring` (0 or 1: the ring's index in
    /// the link, [`crate::layout::Direction`]). See [`claims`].
    ///
    /// # Safety
    ///
    /// `send` and `recv` are valid and aligned for as long as this `Ring`
    /// lives, and this process accesses them only through atomics (they
    /// are the `send_claim`/`recv_claim` words of our own process-table
    /// entry in the same mapping as the ring).
    pub unsafe fn record_claims(
        &mut self,
        send: NonNull<AtomicU64>,
        recv: NonNull<AtomicU64>,
        ring: u8,
    ) {
        self.records = Some(ClaimRecords {
            send,
            recv,
            tag: claims::ring_tag(ring),
        });
    }

    /// Whether claims are recorded ([`Ring::record_claims`]).
    pub fn records_claims(&self) -> bool {
        self.records.is_some()
    }

    /// Makes every publish on this ring notify the event `data` and every
    /// release notify the event `space` (each a `(seq, waiters)` pair of
    /// [`EventCount`](crate::wait::EventCount) words): the wake words of
    /// this ring's direction in the extension block. Commits, dropped
    /// claims, dead-claim recovery and batch releases all notify here, so
    /// no path can publish or release without waking a parked peer.
    ///
    /// # Safety
    ///
    /// The four words are valid and aligned for as long as this `Ring`
    /// lives, and this process accesses them only through atomics.
    pub unsafe fn wake_shared(
        &mut self,
        data: [NonNull<AtomicU32>; 2],
        space: [NonNull<AtomicU32>; 2],
    ) {
        self.wake = Wake::Shared(SharedWake {
            data,
            space,
            wakes: AtomicU64::new(0),
        });
    }

    /// How many `futex_wake` calls this process's publishes and releases
    /// on this ring made (a notify that found a parked waiter makes one);
    /// 0 unless [`Ring::wake_shared`] was called.
    pub fn wake_calls(&self) -> u64 {
        match &self.wake {
            Wake::Shared(w) => w.wakes.load(Ordering::Relaxed),
            Wake::Off | Wake::Local(_) => 0,
        }
    }

    /// Makes publishes and releases on this ring notify process-local
    /// event words ([`Ring::data_event`], [`Ring::space_event`]), for a
    /// link whose segment has no wake words (a Go primary's): then only
    /// threads of this process can be woken, and parks elsewhere are timed.
    pub fn wake_local(&mut self) {
        self.wake = Wake::Local(Box::default());
    }

    /// The event a consumer of this ring parks on while it is empty.
    /// Process-local words unless [`Ring::wake_shared`] was called.
    pub fn data_event(&self) -> EventWords<'_> {
        match &self.wake {
            Wake::Shared(w) => shared_words(&w.data),
            Wake::Off | Wake::Local(_) => self.local_words(),
        }
    }

    /// The event a producer of this ring parks on while it is full.
    /// Process-local words unless [`Ring::wake_shared`] was called.
    pub fn space_event(&self) -> EventWords<'_> {
        match &self.wake {
            Wake::Shared(w) => shared_words(&w.space),
            Wake::Off | Wake::Local(_) => self.local_words(),
        }
    }

    fn local_words(&self) -> EventWords<'_> {
        static NOBODY: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];
        let words = match &self.wake {
            Wake::Local(words) => &**words,
            Wake::Off | Wake::Shared(_) => &NOBODY,
        };
        (&words[0], &words[1])
    }

    /// Wakes consumers parked on [`Ring::data_event`] after a publish.
    #[inline(always)]
    fn notify_data(&self) {
        self.notify(|w| &w.data);
    }

    /// Wakes producers parked on [`Ring::space_event`] after a release.
    #[inline(always)]
    fn notify_space(&self) {
        self.notify(|w| &w.space);
    }

    /// Notifies the event that `shared` picks (the local words when this
    /// process is the only one to wake), counting wake calls.
    #[inline(always)]
    fn notify(&self, shared: impl Fn(&SharedWake) -> &[NonNull<AtomicU32>; 2]) {
        match &self.wake {
            Wake::Off => {}
            Wake::Local(words) => {
                notify((&words[0], &words[1]));
            }
            Wake::Shared(w) => {
                if notify(shared_words(shared(w))) {
                    w.wakes.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Publishes `packet` at claimed position `position` of slot `index`:
    /// gives the slot's flag back (our buffer writes are done), then
    /// publishes and wakes consumers.
    #[inline(always)]
    fn publish(&self, position: u64, index: usize, packet: &Packet) {
        self.owners.give_back(index);
        self.core.publish(position, packet);
        self.notify_data();
    }

    /// Releases claimed read position `position` of slot `index`: gives
    /// the flag back (our buffer reads are done), then hands the slot to
    /// producers and wakes them.
    #[inline(always)]
    fn release(&self, position: u64, index: usize) {
        self.owners.give_back(index);
        self.core.release(position);
        self.notify_space();
    }

    #[inline(always)]
    fn recorder(&self, kind: ClaimKind) -> Recorder<'_, AtomicU64> {
        self.records.as_ref().map(|r| {
            let word = match kind {
                ClaimKind::Send => r.send,
                ClaimKind::Recv => r.recv,
            };
            // SAFETY: valid, aligned and atomic-only while the ring lives
            // (`record_claims` contract); the reference borrows `self`.
            (unsafe { word.as_ref() }, r.tag)
        })
    }

    /// Completes the claims on this ring that dead processes left
    /// unfinished: publishes a tombstone (reason
    /// [`TOMBSTONE_REASON_CLAIMANT_DIED`]) in each slot a dead producer
    /// claimed and never published, and releases each slot a dead consumer
    /// claimed and never released (its message is lost with it).
    ///
    /// `ext` is the link's extension block, `me` our own process-table
    /// index (below 16; skipped, and written into the records we take
    /// over), and `is_dead(index)` says whether the process of entry
    /// `index` is proven dead (see [`crate::liveness`]); it is asked only
    /// about entries whose records name this ring. Does nothing unless
    /// claims are recorded on this ring ([`Ring::record_claims`]). See
    /// [`claims`] for the invariants that make this safe while live
    /// processes keep claiming.
    pub fn recover_dead_claims(
        &self,
        ext: &ExtensionBlock,
        me: usize,
        is_dead: impl Fn(usize) -> bool,
    ) -> RecoveredClaims {
        let mut done = RecoveredClaims::default();
        let Some(records) = self.records.as_ref() else {
            return done;
        };
        let tag = records.tag;
        let dead = |index: usize| index != me && is_dead(index);
        for (index, entry) in ext.processes().iter().enumerate() {
            if index == me {
                continue;
            }
            let mut owner_dead = None;
            for (word, kind) in [
                (&entry.send_claim, ClaimKind::Send),
                (&entry.recv_claim, ClaimKind::Recv),
            ] {
                // Acquire: pairs with the Release record store after a claim.
                let seen = word.load(Ordering::Acquire);
                let Some(record) = claims::ClaimRecord::decode(seen, tag) else {
                    continue;
                };
                // A record being recovered already: its claimant was found
                // dead by that survivor, so only the survivor matters.
                if record.repairer().is_some() || *owner_dead.get_or_insert_with(|| dead(index)) {
                    done += claims::recover_record(
                        &self.core,
                        word,
                        seen,
                        tag,
                        kind,
                        me,
                        dead,
                        tombstone(TOMBSTONE_REASON_CLAIMANT_DIED),
                    );
                }
            }
        }
        if done.tombstones > 0 {
            self.notify_data();
        }
        if done.released > 0 {
            self.notify_space();
        }
        done
    }

    #[inline(always)]
    fn core_slots(&self) -> &SharedSlots {
        self.core.slots()
    }

    fn core_seq_init(&self, i: u64) {
        // SAFETY: i < count: called for 0..count only.
        unsafe { self.core_slots().slot(i as usize) }
            .seq
            .store(i, Ordering::Relaxed);
    }

    /// The read and write positions `(r, w)` now: a racy snapshot of words
    /// a peer can write, for telling whether anyone moved the ring.
    #[inline]
    pub fn positions(&self) -> (u64, u64) {
        self.core.positions()
    }

    /// Whether a producer would find no free slot now (or a corrupt one).
    /// A racy snapshot: a waiter re-checks it after announcing itself and
    /// before it parks, which is what a notify after a release pairs with.
    #[inline]
    pub fn is_full_hint(&self) -> bool {
        self.core.is_full_hint()
    }

    /// Whether a consumer would find no published slot now (or a corrupt
    /// one). A racy snapshot; see [`Ring::is_full_hint`].
    #[inline]
    pub fn is_empty_hint(&self) -> bool {
        self.core.is_empty_hint()
    }

    /// Hints that this process will soon send on this ring (a reply is
    /// due): fetches the next slot's first packet line and its buffer's
    /// first line for writing, so the send does not wait for them. The
    /// consumer last wrote that packet line (releasing the slot before),
    /// so in request-response traffic fetching it early takes a cache-line
    /// transfer off the round trip. Only a hint: nothing is claimed.
    #[inline]
    pub fn prepare_send(&self) {
        self.core.prepare_send();
    }

    /// Slots in the ring (= payload buffers).
    #[inline]
    pub fn count(&self) -> u64 {
        self.core.count()
    }

    /// Bytes per payload buffer.
    #[inline]
    pub fn buffer_size(&self) -> usize {
        self.core.slots().buffer_size
    }

    #[inline(always)]
    fn buffer_ptr(&self, index: usize) -> *mut u8 {
        debug_assert!((index as u64) < self.count());
        // In bounds when index < count: `count * buffer_size` bytes at
        // `buffers` are valid (init/attach contract); no overflow, as
        // checked there.
        self.core.slots().buffer(index)
    }

    /// Buffer `index` as a view.
    #[inline(always)]
    fn buffer_view(&self, index: usize) -> PayloadView<'_> {
        let start = NonNull::new(self.buffer_ptr(index)).unwrap_or(NonNull::dangling());
        // SAFETY: (1) for index < count (every caller passes a claimed
        // slot's index) the buffer lies within the `count * buffer_size`
        // bytes that the init/attach contract keeps valid while the ring
        // lives, and the view borrows the ring; (2) within this process the
        // bytes are written only through `SendClaim`s, and the caller's
        // claim holds the slot's flag, so none can exist for this slot
        // while the claim (and its view) lives.
        unsafe { PayloadView::new(start, self.buffer_size()) }
    }

    /// Claims a free slot for a producer without waiting.
    #[inline]
    pub fn try_claim_send(&self) -> Result<SendClaim<'_>, RingSendError> {
        match self.core.try_claim_send(self.recorder(ClaimKind::Send)) {
            // A slot we already hold was won again: the peer moved the
            // write position back. The first claim keeps it.
            Ok(position) if !self.owners.take(self.core.index(position)) => {
                Err(RingSendError::Corrupt)
            }
            Ok(position) => Ok(SendClaim {
                ring: self,
                position,
            }),
            Err(ClaimFailure::Unavailable) => Err(RingSendError::Full),
            Err(ClaimFailure::Contended) => Err(RingSendError::Contended),
            Err(ClaimFailure::Corrupt) => Err(RingSendError::Corrupt),
        }
    }

    /// Claims a free slot, waiting with `idle` until `deadline` (`None`:
    /// forever) while the ring is full. While `idle` only spins (for at
    /// most 256 waits), a full ring is claimed again only once a run of
    /// slots is free (an eighth of the ring, at most 16), not the first
    /// one: a producer that polls the slot the consumer is releasing slows
    /// that consumer, so a full ring would stay full at a fraction of the
    /// speed.
    pub fn claim_send_with<I: Idle + ?Sized>(
        &self,
        idle: &I,
        deadline: Option<Instant>,
    ) -> Result<SendClaim<'_>, RingSendWaitError> {
        let run = self.free_run();
        let mut attempt = 0u32;
        loop {
            match self.try_claim_send() {
                Ok(claim) => return Ok(claim),
                Err(RingSendError::Corrupt) => return Err(RingSendWaitError::Corrupt),
                Err(RingSendError::Full | RingSendError::Contended) => {}
            }
            loop {
                if wait_step(idle, attempt, deadline) == IdleOutcome::TimedOut {
                    return Err(RingSendWaitError::TimedOut);
                }
                attempt = attempt.saturating_add(1);
                let waits_for_run = idle.spins(attempt) && attempt < FREE_RUN_ATTEMPTS;
                if !waits_for_run || self.core.is_free_hint(run - 1) {
                    break;
                }
            }
        }
    }

    /// How many free slots a producer that found the ring full waits for
    /// (for its first [`FREE_RUN_ATTEMPTS`] steps) before it claims again.
    ///
    /// Claiming the moment one slot frees keeps the producer polling the
    /// very cache lines the consumer is writing, which slows the consumer
    /// it waits for: a full ring then stays full at a fraction of the
    /// speed. Waiting for a run lets the consumer get ahead, and the
    /// producer then fills the run without touching the consumer's lines.
    #[inline]
    fn free_run(&self) -> u64 {
        (self.count() / 8).clamp(1, MAX_FREE_RUN)
    }

    /// Claims a free slot, polling ([`PollingIdle`]) until `deadline`.
    pub fn claim_send_timeout(
        &self,
        deadline: Instant,
    ) -> Result<SendClaim<'_>, RingSendWaitError> {
        self.claim_send_with(&PollingIdle, Some(deadline))
    }

    /// Claims a free slot, polling ([`PollingIdle`]) for as long as it takes.
    /// Fails only on a corrupt ring.
    pub fn claim_send(&self) -> Result<SendClaim<'_>, RingSendWaitError> {
        self.claim_send_with(&PollingIdle, None)
    }

    /// Claims the oldest published slot for a consumer without waiting; its
    /// packet is copied out once, at the claim.
    #[inline]
    pub fn try_claim_recv(&self) -> Result<RecvClaim<'_>, RingRecvError> {
        match self.core.try_claim_recv(self.recorder(ClaimKind::Recv)) {
            // As in `try_claim_send`: the read position was moved back.
            Ok((position, _)) if !self.owners.take(self.core.index(position)) => {
                Err(RingRecvError::Corrupt)
            }
            Ok((position, packet)) => Ok(RecvClaim {
                ring: self,
                position,
                packet,
            }),
            Err(failure) => Err(recv_error(failure)),
        }
    }

    /// Receives the oldest published packet without waiting and hands its
    /// slot back at once, for consumers whose messages are the packet
    /// alone (as `crossbeam::queue::ArrayQueue::pop` returns its value).
    ///
    /// The slot's payload buffer is never reached, so unlike
    /// [`Ring::try_claim_recv`] this takes no ownership flag: one CAS on
    /// the read position, the packet's loads and one store handing the
    /// slot back. A peer that moves the read position back can make two
    /// receivers of this process get the same packet, as it could by
    /// writing that packet twice; no buffer is shared by it.
    #[inline]
    pub fn try_recv_packet(&self) -> Result<Packet, RingRecvError> {
        match self.core.try_claim_recv(self.recorder(ClaimKind::Recv)) {
            Ok((position, packet)) => {
                self.core.release(position);
                self.notify_space();
                Ok(packet)
            }
            Err(failure) => Err(recv_error(failure)),
        }
    }

    /// Claims up to `max` consecutive published slots with one CAS on the
    /// read position (at least one slot; `max` is clamped to `1..=count`
    /// and to at most 512, so that a claim record can name the batch).
    ///
    /// Cheaper per packet than repeated [`Ring::try_claim_recv`] when the
    /// consumer drains a backlog. The slots are released together when the
    /// batch drops.
    #[inline]
    pub fn try_recv_batch(&self, max: usize) -> Result<RecvBatch<'_>, RingRecvError> {
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        match self
            .core
            .claim_recv_positions(max, self.recorder(ClaimKind::Recv))
        {
            Ok((start, len)) => self.own_batch(start, len),
            Err(failure) => Err(recv_error(failure)),
        }
    }

    /// Takes the flags of claimed read positions `start..start + len`; if
    /// one is already held here (the read position was moved back),
    /// releases the ones taken and reports corruption.
    fn own_batch(&self, start: u64, len: u64) -> Result<RecvBatch<'_>, RingRecvError> {
        for i in 0..len {
            let position = start.wrapping_add(i);
            if !self.owners.take(self.core.index(position)) {
                for taken in 0..i {
                    let position = start.wrapping_add(taken);
                    self.release(position, self.core.index(position));
                }
                return Err(RingRecvError::Corrupt);
            }
        }
        Ok(RecvBatch {
            ring: self,
            start,
            len,
        })
    }

    /// Claims a published slot, waiting with `idle` until `deadline`
    /// (`None`: forever) while the ring is empty.
    pub fn claim_recv_with<I: Idle + ?Sized>(
        &self,
        idle: &I,
        deadline: Option<Instant>,
    ) -> Result<RecvClaim<'_>, RingRecvWaitError> {
        let mut attempt = 0u32;
        loop {
            match self.try_claim_recv() {
                Ok(claim) => return Ok(claim),
                Err(RingRecvError::Corrupt) => return Err(RingRecvWaitError::Corrupt),
                Err(RingRecvError::Empty | RingRecvError::Contended) => {}
            }
            if wait_step(idle, attempt, deadline) == IdleOutcome::TimedOut {
                return Err(RingRecvWaitError::TimedOut);
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// Claims a published slot, polling ([`PollingIdle`]) until `deadline`.
    pub fn claim_recv_timeout(
        &self,
        deadline: Instant,
    ) -> Result<RecvClaim<'_>, RingRecvWaitError> {
        self.claim_recv_with(&PollingIdle, Some(deadline))
    }

    /// Claims a published slot, polling ([`PollingIdle`]) for as long as it
    /// takes. Fails only on a corrupt ring.
    pub fn claim_recv(&self) -> Result<RecvClaim<'_>, RingRecvWaitError> {
        self.claim_recv_with(&PollingIdle, None)
    }
}

/// How many idle steps of a blocking claim share one deadline check of
/// the claim's own.
const DEADLINE_CHECK_EVERY: u32 = 64;

/// The longest run of free slots a producer that found the ring full waits
/// for (see [`Ring::free_run`]).
const MAX_FREE_RUN: u64 = 16;

/// Wait steps during which a producer that found the ring full may wait
/// for a run of free slots rather than one (only while its `Idle` spins);
/// after them it claims the first free slot, so a consumer that frees
/// fewer slots than a run (or a peer that forges sequence numbers) costs
/// at most these spins, a few microseconds.
const FREE_RUN_ATTEMPTS: u32 = 256;

/// One idle step of a blocking claim; also enforces the deadline itself
/// (every [`DEADLINE_CHECK_EVERY`] steps, as `Idle`s check it anyway and
/// a clock read costs as much as a spin), so an `Idle` that ignores it
/// cannot make the claim wait forever.
#[inline]
fn wait_step<I: Idle + ?Sized>(idle: &I, attempt: u32, deadline: Option<Instant>) -> IdleOutcome {
    let outcome = idle.idle(attempt, deadline);
    match deadline {
        Some(deadline)
            if attempt % DEADLINE_CHECK_EVERY == DEADLINE_CHECK_EVERY - 1
                && Instant::now() >= deadline =>
        {
            IdleOutcome::TimedOut
        }
        _ => outcome,
    }
}

fn shared_words(words: &[NonNull<AtomicU32>; 2]) -> EventWords<'_> {
    let [seq, waiters] = words;
    // SAFETY: valid, aligned and atomic-only while the ring lives
    // (`wake_shared` contract); the references borrow the ring.
    unsafe { (seq.as_ref(), waiters.as_ref()) }
}

/// Notifies the event; whether a wake system call was made.
#[inline(always)]
fn notify((seq, waiters): EventWords<'_>) -> bool {
    #[cfg(unix)]
    return crate::wait::EventCount::new(seq, waiters).notify();
    #[cfg(not(unix))]
    {
        let _ = (seq, waiters);
        false
    }
}

fn recv_error(failure: ClaimFailure) -> RingRecvError {
    match failure {
        ClaimFailure::Unavailable => RingRecvError::Empty,
        ClaimFailure::Contended => RingRecvError::Contended,
        ClaimFailure::Corrupt => RingRecvError::Corrupt,
    }
}

/// A slot claimed by a producer, with its payload buffer.
///
/// [`SendClaim::commit`] publishes a packet. Dropping the claim without
/// committing publishes a StandardLinkTombstone (opcode 0xFE, operands
/// copy id 0, buffer index = slot index, reason
/// [`TOMBSTONE_REASON_CLAIM_DROPPED`]) so consumers skip the slot instead of
/// waiting for it forever.
#[must_use = "dropping a SendClaim publishes a tombstone"]
pub struct SendClaim<'a> {
    ring: &'a Ring,
    position: u64,
}

impl std::fmt::Debug for SendClaim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendClaim")
            .field("index", &self.index())
            .finish()
    }
}

impl<'a> SendClaim<'a> {
    /// The slot index, which is also the index of the slot's payload buffer.
    #[inline]
    pub fn index(&self) -> usize {
        self.ring.core.index(self.position)
    }

    /// Bytes in the slot's payload buffer.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.buffer_size()
    }

    /// The slot's payload buffer, to fill in place (zero-copy).
    ///
    /// Within this process the buffer is this claim's alone: the claim
    /// holds the slot's flag in process-private memory, so no other claim
    /// of this process, whatever the peer does to the ring, can reach it
    /// until this one commits or drops. Another process that maps the
    /// segment can still write into it concurrently, which garbles the
    /// message (plain bytes, which the receiver validates anyway) and can
    /// make a byte read back differ from what was written: write, do not
    /// read back. [`SendClaim::write_payload`] is the copy-in alternative.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let ptr = self.ring.buffer_ptr(self.index());
        // SAFETY: (1) the buffer is in bounds and valid (init/attach
        // contract); (2) within this process the buffer is ours alone until
        // commit or drop: this claim holds the slot's flag in `owners`
        // (which the peer cannot write), and `&mut self` ties the slice to
        // the claim; (3) u8 has no invalid values, so writes by another
        // process cannot make the bytes invalid.
        unsafe { std::slice::from_raw_parts_mut(ptr, self.ring.buffer_size()) }
    }

    /// Copies `data` to the start of the payload buffer.
    pub fn write_payload(&mut self, data: &[u8]) -> Result<(), RingPayloadError> {
        if data.len() > self.ring.buffer_size() {
            return Err(RingPayloadError::TooLong {
                len: data.len() as u64,
                capacity: self.ring.buffer_size() as u64,
            });
        }
        let ptr = self.ring.buffer_ptr(self.index());
        // SAFETY: data.len() <= buffer size, the buffer is valid and ours
        // within this process (see `payload_mut`), and `data` is a caller
        // slice that cannot overlap it while we hold `&mut self`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr, data.len()) };
        Ok(())
    }

    /// Publishes `packet` in the slot (and with it the payload buffer).
    #[inline]
    pub fn commit(self, packet: Packet) {
        let this = ManuallyDrop::new(self);
        this.ring.publish(this.position, this.index(), &packet);
    }
}

impl Drop for SendClaim<'_> {
    fn drop(&mut self) {
        let packet = tombstone(TOMBSTONE_REASON_CLAIM_DROPPED)(self.index());
        self.ring.publish(self.position, self.index(), &packet);
    }
}

/// Builds the StandardLinkTombstone for a slot index: copy id 0, buffer
/// index = slot index, `reason`.
fn tombstone(reason: u64) -> impl FnOnce(usize) -> Packet {
    move |index| {
        Packet::new(
            OPCODE_STANDARD_LINK_TOMBSTONE,
            [0, index as u64, reason, 0, 0, 0, 0],
        )
    }
}

/// A slot claimed by a consumer: its packet (copied out at the claim) and
/// read access to its payload buffer. Dropping it releases the slot.
pub struct RecvClaim<'a> {
    ring: &'a Ring,
    position: u64,
    packet: Packet,
}

impl std::fmt::Debug for RecvClaim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvClaim")
            .field("index", &self.index())
            .field("packet", &self.packet)
            .finish()
    }
}

impl<'a> RecvClaim<'a> {
    /// The slot index, which is also the index of the slot's payload buffer.
    #[inline]
    pub fn index(&self) -> usize {
        self.ring.core.index(self.position)
    }

    /// The packet, as it was in the slot when it was claimed. It comes from
    /// the peer: validate opcode and operands before use.
    #[inline]
    pub fn packet(&self) -> Packet {
        self.packet
    }

    /// Bytes in the slot's payload buffer.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.ring.buffer_size()
    }

    /// The slot's whole payload buffer, read in place (zero-copy).
    ///
    /// The bytes live in shared memory, and a peer that violates the
    /// protocol can keep writing into them while the view is alive, so two
    /// reads of the same byte may differ: see [`PayloadView`].
    #[inline]
    pub fn payload(&self) -> PayloadView<'_> {
        self.ring.buffer_view(self.index())
    }

    /// Copies the first `len` payload bytes (typically a size operand from
    /// the packet, which is untrusted) into `out[..len]`.
    pub fn read_payload(&self, len: u64, out: &mut [u8]) -> Result<usize, RingPayloadError> {
        read_payload(self.ring, self.index(), len, out)
    }

    /// Hints that the first `len` payload bytes are about to be read: asks
    /// for all their cache lines at once, so that copying a large message
    /// out does not fetch its lines one after another from the producer's
    /// core. (The first line is asked for when the slot is claimed.)
    #[inline]
    pub fn prefetch_payload(&self, len: usize) {
        let start = self.ring.buffer_ptr(self.index());
        let len = len.min(self.ring.buffer_size());
        for offset in (CACHE_LINE..len).step_by(CACHE_LINE) {
            prefetch_read(start.wrapping_add(offset));
        }
    }

    /// Releases the slot (the same as dropping the claim).
    #[inline]
    pub fn release(self) {}
}

impl Drop for RecvClaim<'_> {
    #[inline]
    fn drop(&mut self) {
        self.ring.release(self.position, self.index());
    }
}

fn read_payload(
    ring: &Ring,
    index: usize,
    len: u64,
    out: &mut [u8],
) -> Result<usize, RingPayloadError> {
    let capacity = ring.buffer_size().min(out.len());
    let n = match usize::try_from(len) {
        Ok(n) if n <= capacity => n,
        _ => {
            return Err(RingPayloadError::TooLong {
                len,
                capacity: capacity as u64,
            })
        }
    };
    let copied = ring
        .buffer_view(index)
        .copy_to_slice(out.get_mut(..n).unwrap_or_default());
    Ok(copied)
}

/// Consecutive slots claimed by one consumer with one CAS
/// ([`Ring::try_recv_batch`]). Dropping the batch releases all of them, in
/// order.
pub struct RecvBatch<'a> {
    ring: &'a Ring,
    start: u64,
    len: u64,
}

impl std::fmt::Debug for RecvBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch").field("len", &self.len).finish()
    }
}

impl<'a> RecvBatch<'a> {
    /// Number of claimed slots (at least 1).
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: a batch holds at least one slot.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn position(&self, i: usize) -> Option<u64> {
        let i = u64::try_from(i).ok().filter(|&i| i < self.len)?;
        Some(self.start.wrapping_add(i))
    }

    /// The slot index of the `i`-th claimed slot.
    #[inline]
    pub fn index(&self, i: usize) -> Option<usize> {
        Some(self.ring.core.index(self.position(i)?))
    }

    /// The packet of the `i`-th claimed slot, copied out of the slot now.
    /// It comes from the peer: validate it before use.
    #[inline]
    pub fn packet(&self, i: usize) -> Option<Packet> {
        Some(self.ring.core.load_packet(self.position(i)?))
    }

    /// The payload buffer of the `i`-th claimed slot, read in place; see
    /// [`PayloadView`] for what a misbehaving peer can do to it.
    pub fn payload(&self, i: usize) -> Option<PayloadView<'_>> {
        Some(self.ring.buffer_view(self.index(i)?))
    }

    /// Copies the first `len` payload bytes of the `i`-th slot into `out`.
    /// `Ok(None)` if `i` is out of range.
    pub fn read_payload(
        &self,
        i: usize,
        len: u64,
        out: &mut [u8],
    ) -> Result<Option<usize>, RingPayloadError> {
        match self.index(i) {
            Some(index) => read_payload(self.ring, index, len, out).map(Some),
            None => Ok(None),
        }
    }
}

impl Drop for RecvBatch<'_> {
    fn drop(&mut self) {
        for i in 0..self.len {
            let position = self.start.wrapping_add(i);
            self.ring.release(position, self.ring.core.index(position));
        }
    }
}
