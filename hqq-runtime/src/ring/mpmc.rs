//! Dmitry Vyukov's bounded MPMC queue with per-slot sequence numbers, hardened
//! against a peer that writes garbage into the ring.
//!
//! # Encoding
//!
//! * `w` (write position) and `r` (read position) are free-running `u64`
//!   counters; position `p` lives in slot `p & mask`.
//! * A slot's `seq` says whose turn it is for the slot at position `p`:
//!   `seq == p` means a producer may claim it, `seq == p + 1` means the packet
//!   for position `p` is published and a consumer may claim it, and the
//!   consumer hands the slot to the producer of the next lap by storing
//!   `seq = p + count`. Initially `seq = i` for slot `i` and `r = w = 0`.
//!
//! # Trust
//!
//! `r`, `w` and every `seq` are shared with an untrusted peer. Indices are
//! always `p & mask` with our own `mask` (read once, never from the header),
//! so no peer value can move an access out of the ring. In a correct ring,
//! from the claimant's view at position `p` the slot's `seq` can only be in a
//! small window (see [`RingCore::try_claim_send`] and
//! [`RingCore::claim_recv_positions`]); anything else is reported as
//! [`ClaimFailure::Corrupt`]. Every retry loop is bounded by
//! [`MAX_CLAIM_RETRIES`], so a peer that keeps moving a position cannot trap
//! us.
//!
//! # Orderings
//!
//! Positions are loaded with `Acquire` and advanced with `AcqRel` CAS (the
//! original algorithm uses `Relaxed`). The stronger orderings are free on
//! x86-64 and make the corruption checks sound: a claimant that reads
//! position `p` has synchronized with every earlier claim of `p`'s slot, so
//! it can never see a `seq` older than the window below.

use crossbeam_utils::Backoff;

use super::atomic::{Ordering, Word};
use super::claims::{self, MAX_RECORDED_BATCH, POSITION_MASK};
use crate::packet::Packet;

/// How many times a claim retries after losing a race before it gives up
/// with [`ClaimFailure::Contended`]. Every lost race means some other claim
/// made progress (or a peer is rewriting the position), so a bound this
/// small only turns rare bursts of honest contention into one more round
/// of the caller's wait loop, while a peer that keeps moving the position
/// can hold one claim attempt for at most this many steps (each with a
/// bounded [`Backoff::spin`]).
pub(crate) const MAX_CLAIM_RETRIES: u32 = 64;

/// The memory of one ring: two positions, `count` sequence words and
/// `count` packet cells.
pub(crate) trait Slots {
    /// The atomic cell type of positions and sequence numbers.
    type Word: Word;

    /// The read position `r`.
    fn read_position(&self) -> &Self::Word;

    /// The write position `w`.
    fn write_position(&self) -> &Self::Word;

    /// The sequence number of slot `index`.
    ///
    /// # Safety
    ///
    /// `index < count`.
    unsafe fn seq(&self, index: usize) -> &Self::Word;

    /// Writes the packet of slot `index`.
    ///
    /// # Safety
    ///
    /// `index < count`, and the algorithm gives the caller the slot as a
    /// producer. Only implementations over memory no peer can write (the
    /// loom model's cells) may rely on the second condition; the one over
    /// shared memory stores atomics and relies on the first alone, since a
    /// peer can break the algorithm.
    unsafe fn store_packet(&self, index: usize, packet: &Packet);

    /// Reads the packet of slot `index`.
    ///
    /// # Safety
    ///
    /// As for [`Slots::store_packet`], with the slot the caller's as a
    /// consumer.
    unsafe fn load_packet(&self, index: usize) -> Packet;

    /// Hints that a consumer is about to claim slot `index` (seen
    /// published) and read its packet and payload.
    #[inline(always)]
    fn will_consume(&self, _index: usize) {}

    /// Hints that a producer will next try to claim slot `index`.
    #[inline(always)]
    fn will_produce(&self, _index: usize) {}

    /// Hints that a producer is about to fill slot `index` (claim it and
    /// write its packet and payload).
    #[inline(always)]
    fn will_fill(&self, _index: usize) {}
}

/// Why a claim did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClaimFailure {
    /// Full (send) or empty (receive).
    Unavailable,
    /// Lost [`MAX_CLAIM_RETRIES`] races in a row.
    Contended,
    /// The positions and sequence numbers are in a state no correct ring reaches.
    Corrupt,
}

/// Where a claimant records the positions it wins (see
/// [`claims`](super::claims)): its record word and the ring's tag.
pub(crate) type Recorder<'a, W> = Option<(&'a W, u64)>;

/// The algorithm over some [`Slots`], with the configuration read once.
pub(crate) struct RingCore<S> {
    slots: S,
    /// `count - 1`; `count` is a power of two >= 2.
    mask: u64,
    count: u64,
}

impl<S: Slots> RingCore<S> {
    /// The algorithm over `slots` with `count` slots.
    ///
    /// `count` must be a power of two >= 2 and no larger than `i64::MAX`
    /// (checked by the callers, which return typed errors).
    pub(crate) fn new(slots: S, count: u64) -> Self {
        debug_assert!(count >= 2 && count.is_power_of_two() && count <= i64::MAX as u64);
        RingCore {
            slots,
            mask: count - 1,
            count,
        }
    }

    #[inline(always)]
    pub(crate) fn slots(&self) -> &S {
        &self.slots
    }

    #[inline(always)]
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    #[inline(always)]
    pub(crate) fn index(&self, position: u64) -> usize {
        (position & self.mask) as usize
    }

    #[inline(always)]
    fn seq(&self, position: u64) -> &S::Word {
        let index = self.index(position);
        debug_assert!((index as u64) < self.count);
        // SAFETY: index = position & mask < count.
        unsafe { self.slots.seq(index) }
    }

    /// Claims the next write position for a producer.
    ///
    /// With the slot at `w = p`, a correct ring has `seq` in
    /// `{p - count, p - count + 1}` (full: the previous lap is not yet
    /// published, or not yet released), `p` (free), or above `p` only if
    /// `w` has moved past `p` since we read it.
    ///
    /// With a `record`er, the won position is stored into the record word
    /// right after the winning CAS.
    #[inline(always)]
    pub(crate) fn try_claim_send(
        &self,
        record: Recorder<'_, S::Word>,
    ) -> Result<u64, ClaimFailure> {
        let write = self.slots.write_position();
        let backoff = Backoff::new();
        // Acquire: pairs with the AcqRel CAS below in other producers.
        let mut p = write.load(Ordering::Acquire);
        for _ in 0..MAX_CLAIM_RETRIES {
            // Acquire: pairs with the Release store in `release` (a consumer
            // handing the slot back) so our packet writes come after its reads.
            let seq = self.seq(p).load(Ordering::Acquire);
            let diff = seq.wrapping_sub(p) as i64;
            if diff == 0 {
                match write.compare_exchange_weak(
                    p,
                    p.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        if let Some((word, tag)) = record {
                            // Release: pairs with the Acquire CAS in
                            // `claims::recover_record` (a survivor reading
                            // the record sees our claim of `w`).
                            word.store(claims::encode(tag, p, 1), Ordering::Release);
                        }
                        return Ok(p);
                    }
                    Err(current) => {
                        p = current;
                        backoff.spin();
                    }
                }
            } else if diff < 0 {
                let behind = diff.unsigned_abs();
                return if behind == self.count || behind == self.count - 1 {
                    Err(ClaimFailure::Unavailable)
                } else {
                    Err(ClaimFailure::Corrupt)
                };
            } else {
                // The slot is ahead of p, which is only possible if w moved
                // on: we synchronized with its claimant through `seq`.
                let current = write.load(Ordering::Acquire);
                if current == p {
                    return Err(ClaimFailure::Corrupt);
                }
                p = current;
                backoff.spin();
            }
        }
        Err(ClaimFailure::Contended)
    }

    /// Hints that this side will soon produce: the slot at the write
    /// position is about to be filled.
    #[inline]
    pub(crate) fn prepare_send(&self) {
        // Relaxed: only an address for a hint.
        let p = self.slots.write_position().load(Ordering::Relaxed);
        self.slots.will_fill(self.index(p));
    }

    /// The read and write positions `(r, w)` now: a racy snapshot of
    /// words a peer can write, for progress checks only.
    #[inline]
    pub(crate) fn positions(&self) -> (u64, u64) {
        // Relaxed: nothing is read through these values.
        (
            self.slots.read_position().load(Ordering::Relaxed),
            self.slots.write_position().load(Ordering::Relaxed),
        )
    }

    /// Whether the slot at the write position looks unavailable to a
    /// producer (`seq != w`): full, or in a state a claim would report.
    /// A racy snapshot, for deciding whether to park.
    #[inline]
    pub(crate) fn is_full_hint(&self) -> bool {
        // Acquire (both): as in `try_claim_send`.
        let p = self.slots.write_position().load(Ordering::Acquire);
        self.seq(p).load(Ordering::Acquire) != p
    }

    /// Whether the slot `ahead` positions past the write position looks
    /// free to a producer: a racy snapshot, for a producer that found the
    /// ring full and would rather wait for a run of free slots than poll
    /// the slot a consumer is releasing.
    #[inline]
    pub(crate) fn is_free_hint(&self, ahead: u64) -> bool {
        // Relaxed: a hint; the claim that follows loads with Acquire.
        let p = self
            .slots
            .write_position()
            .load(Ordering::Relaxed)
            .wrapping_add(ahead);
        self.seq(p).load(Ordering::Relaxed) == p
    }

    /// Whether the slot at the read position looks unavailable to a
    /// consumer (`seq != r + 1`): empty, or in a state a claim would
    /// report. A racy snapshot, for deciding whether to park.
    #[inline]
    pub(crate) fn is_empty_hint(&self) -> bool {
        // Acquire (both): as in `claim_recv_positions`.
        let p = self.slots.read_position().load(Ordering::Acquire);
        self.seq(p).load(Ordering::Acquire) != p.wrapping_add(1)
    }

    /// Publishes `packet` at the claimed write position `p`.
    #[inline]
    pub(crate) fn publish(&self, p: u64, packet: &Packet) {
        // SAFETY: index < count (masked). The algorithm gave us the slot
        // (we claimed p with `seq == p`, and no consumer touches it until
        // the store below), which is all the peer-free loom cells need;
        // shared slots need only the index bound (see `Slots`).
        unsafe { self.slots.store_packet(self.index(p), packet) };
        // Release: pairs with the Acquire load of `seq` in
        // `claim_recv_positions`, which then sees the packet.
        self.seq(p).store(p.wrapping_add(1), Ordering::Release);
        self.slots.will_produce(self.index(p.wrapping_add(1)));
    }

    /// Claims up to `max` (>= 1) consecutive published read positions with
    /// one CAS; returns the first position and how many were claimed.
    ///
    /// With the slot at `r = p`, a correct ring has `seq` in
    /// `{p - count + 1, p}` (empty: the previous lap is not yet released, or
    /// this lap is not yet published), `p + 1` (ready), or higher only if `r`
    /// has moved past `p` since we read it.
    ///
    /// At most [`MAX_RECORDED_BATCH`] positions are claimed at once, so that
    /// a `record` can name them all.
    #[inline(always)]
    pub(crate) fn claim_recv_positions(
        &self,
        max: u64,
        record: Recorder<'_, S::Word>,
    ) -> Result<(u64, u64), ClaimFailure> {
        debug_assert!(max >= 1);
        let max = max.clamp(1, self.count.min(MAX_RECORDED_BATCH));
        let read = self.slots.read_position();
        let backoff = Backoff::new();
        // Acquire: pairs with the AcqRel CAS below in other consumers.
        let mut p = read.load(Ordering::Acquire);
        for _ in 0..MAX_CLAIM_RETRIES {
            // Acquire: pairs with the Release store in `publish`, so the
            // packet of a ready slot is visible once we own it.
            let seq = self.seq(p).load(Ordering::Acquire);
            let diff = seq.wrapping_sub(p.wrapping_add(1)) as i64;
            if diff == 0 {
                self.slots.will_consume(self.index(p));
                let mut ready = 1;
                while ready < max {
                    let q = p.wrapping_add(ready);
                    // Acquire: as above.
                    if self.seq(q).load(Ordering::Acquire) != q.wrapping_add(1) {
                        break;
                    }
                    ready += 1;
                }
                match read.compare_exchange_weak(
                    p,
                    p.wrapping_add(ready),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        if let Some((word, tag)) = record {
                            // Release: as in `try_claim_send`.
                            word.store(claims::encode(tag, p, ready), Ordering::Release);
                        }
                        return Ok((p, ready));
                    }
                    Err(current) => {
                        p = current;
                        backoff.spin();
                    }
                }
            } else if diff < 0 {
                let behind = diff.unsigned_abs();
                return if behind == 1 || behind == self.count {
                    Err(ClaimFailure::Unavailable)
                } else {
                    Err(ClaimFailure::Corrupt)
                };
            } else {
                let current = read.load(Ordering::Acquire);
                if current == p {
                    return Err(ClaimFailure::Corrupt);
                }
                p = current;
                backoff.spin();
            }
        }
        Err(ClaimFailure::Contended)
    }

    /// Claims one read position and copies its packet out.
    #[inline(always)]
    pub(crate) fn try_claim_recv(
        &self,
        record: Recorder<'_, S::Word>,
    ) -> Result<(u64, Packet), ClaimFailure> {
        let (p, _) = self.claim_recv_positions(1, record)?;
        Ok((p, self.load_packet(p)))
    }

    /// The packet at claimed read position `p`.
    #[inline]
    pub(crate) fn load_packet(&self, p: u64) -> Packet {
        // SAFETY: index < count (masked); the algorithm gave the consumer
        // position p until `release(p)`, as `Slots::load_packet` asks of
        // peer-free implementations (shared slots need only the bound).
        unsafe { self.slots.load_packet(self.index(p)) }
    }

    /// Hands the slot of claimed read position `p` back to producers.
    #[inline]
    pub(crate) fn release(&self, p: u64) {
        // Release: pairs with the Acquire load of `seq` in `try_claim_send`,
        // so the next producer writes only after our reads.
        self.seq(p)
            .store(p.wrapping_add(self.count), Ordering::Release);
    }

    /// The full position `1..=count` behind `front` whose low 48 bits are
    /// `recorded` (a claimed, unfinished position is never further behind).
    #[inline]
    fn behind(&self, front: u64, recorded: u64) -> Option<u64> {
        let distance = front.wrapping_sub(recorded) & POSITION_MASK;
        (1..=self.count)
            .contains(&distance)
            .then(|| front.wrapping_sub(distance))
    }

    /// Publishes a tombstone for the write position recorded (mod 2^48) by
    /// a dead producer, if that position is still claimed and unpublished
    /// (`seq == p`). Returns whether it did.
    ///
    /// The caller must hold the dead claimant's record exclusively (see
    /// [`claims::recover_record`]): then nobody else writes this slot until
    /// the `seq` CAS below publishes it.
    pub(crate) fn complete_dead_send(
        &self,
        recorded: u64,
        tombstone: impl FnOnce(usize) -> Packet,
    ) -> bool {
        // Acquire: pairs with the AcqRel claim CAS of `w`.
        let w = self.slots.write_position().load(Ordering::Acquire);
        let Some(p) = self.behind(w, recorded) else {
            return false;
        };
        // Acquire: pairs with the Release store in `publish` (had the
        // claimant published, we would see `p + 1`).
        if self.seq(p).load(Ordering::Acquire) != p {
            return false;
        }
        let index = self.index(p);
        // SAFETY: index < count (masked). When every party follows the
        // algorithm the slot is ours to write: `seq == p` and `w > p`, so
        // the dead claimant won p (invariant R) and never published it,
        // consumers wait for `seq == p + 1`, producers of the next lap for
        // `seq == p + count`, and our exclusive hold of the record keeps
        // other survivors out. Shared slots need only the bound (`Slots`).
        unsafe { self.slots.store_packet(index, &tombstone(index)) };
        // Release: pairs with the Acquire load of `seq` in
        // `claim_recv_positions`, which then sees the tombstone.
        self.seq(p)
            .compare_exchange(p, p.wrapping_add(1), Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the read positions recorded (first mod 2^48, `len`) by a
    /// dead consumer that are still claimed and unreleased
    /// (`q < r`, `seq == q + 1`). Returns how many it released.
    pub(crate) fn complete_dead_recv(&self, recorded: u64, len: u64) -> u64 {
        // Acquire: pairs with the AcqRel claim CAS of `r`.
        let r = self.slots.read_position().load(Ordering::Acquire);
        let Some(first) = self.behind(r, recorded) else {
            return 0;
        };
        let claimed = r.wrapping_sub(first).min(len);
        let mut released = 0;
        for i in 0..claimed {
            let q = first.wrapping_add(i);
            // Release: pairs with the Acquire load of `seq` in
            // `try_claim_send`, as `release` does. Only q's consumer, which
            // is dead, would store anything else here.
            if self
                .seq(q)
                .compare_exchange(
                    q.wrapping_add(1),
                    q.wrapping_add(self.count),
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                released += 1;
            }
        }
        released
    }
}
