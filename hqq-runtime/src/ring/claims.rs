//! Claim records: how a survivor completes the slot of a process that died
//! between claiming it and publishing (producer) or releasing (consumer) it,
//! so that a ring shared by a pool of processes keeps moving (issue 6,
//! item 4; the same idea as Aeron unblocking a dead publisher's claim).
//!
//! # Records
//!
//! Each process-table entry of the extension block (see
//! [`crate::extension`]) has two record words, `send_claim` and
//! `recv_claim`. Right after a claim CAS succeeds, the claimant stores the
//! position(s) it won into its word (one `Release` store; nothing else on
//! the hot path, nothing at all when the link has no extension block):
//!
//! ```text
//! bit  63      valid
//! bit  62      recovering: a survivor is completing this claim
//! bits 61..58  the recovering survivor's process-table index
//! bit  57      ring: 0 = ring 0 (primary -> secondary), 1 = ring 1
//! bits 56..48  claimed positions - 1 (a receive batch; 0 for a send)
//! bits 47..0   first claimed position, modulo 2^48
//! ```
//!
//! The record is written *after* the CAS, never before: a record written
//! before the CAS would also name a position its writer then lost to a
//! live process, and completing that slot would corrupt a live claim. So:
//!
//! **Invariant R**: a record names only positions its writer won. Only the
//! winner of a position publishes it (producer) or releases it (consumer).
//!
//! Records are not cleared after publish/release; a stale record names a
//! position whose `seq` has moved on, which the checks below recognize
//! exactly (a slot's `seq` takes each value at most once per 2^64
//! positions). A record is cleared when a survivor has examined it.
//!
//! # Recovery
//!
//! A survivor blocked on a ring for one liveness interval scans the table
//! ([`super::Ring::recover_dead_claims`]). For each record of this ring
//! whose process is dead (its pid gone, reused, or a zombie; never
//! "unknown"):
//!
//! 1. It CASes the record from the value it read to the same value with
//!    the recovering bit and its own index. Exactly one survivor wins; the
//!    others leave it. A recovering record whose survivor is itself dead
//!    may be taken over the same way.
//! 2. Producer record, position `p` (reconstructed from `w` as the position
//!    `1..=count` behind it with the same low 48 bits): if `seq(p) == p`,
//!    the dead process won `p` (R) and never published it, and nobody else
//!    will. The survivor writes a StandardLinkTombstone (reason
//!    [`TOMBSTONE_REASON_CLAIMANT_DIED`](super::TOMBSTONE_REASON_CLAIMANT_DIED))
//!    into the slot, then CASes `seq` `p -> p + 1` (`Release`), which
//!    publishes it: consumers skip it like any tombstone.
//! 3. Consumer record, positions `p .. p + len` (reconstructed from `r`):
//!    each `q < r` with `seq(q) == q + 1` was won by the dead process (R)
//!    and never released; the survivor CASes `seq` `q + 1 -> q + count`,
//!    handing the slot to producers. The message in it is lost with its
//!    consumer: it was delivered to that process, which died before it was
//!    done with it.
//! 4. It clears the record (CAS back to 0), whether or not there was
//!    anything to complete.
//!
//! # Races
//!
//! * Dead before the record store (after the claim CAS): the record names
//!   an older, completed position; the slot stays stuck, as without
//!   records. The window is a few instructions.
//! * Several claims in flight at once in one process (several threads, or a
//!   batch and a single claim): the word holds the latest; only that one is
//!   recovered, the others stay stuck. Recovery is exact for processes with
//!   one claim of each kind in flight.
//! * Two survivors: step 1 makes one of them the repairer; the tombstone is
//!   written only by it, before the `seq` CAS that publishes it, so no
//!   consumer sees a half-written tombstone and no later lap's packet is
//!   overwritten.
//! * The repairer dies in step 2: the record stays recovering, naming it;
//!   the next survivor finds it dead, takes the record over and repeats
//!   step 2, which is idempotent (`seq` has moved on, or the tombstone is
//!   rewritten by the only writer).
//! * The dead process's table entry is reused by a newcomer meanwhile:
//!   registration clears both words, so the CAS of step 1 fails, or the
//!   repair of a position that is still the dead process's goes on.
//! * A process that does not record claims (the Go implementation, a link
//!   whose process table was full) is never recovered; and its claims are
//!   never touched, since only records name positions.
//!
//! The checks are exact position comparisons on `seq`, so a peer writing
//! garbage into a record makes a survivor at worst complete a slot that
//! the garbage names and that is claimed-but-unfinished, which only a peer
//! that could write the ring anyway can arrange.

use super::atomic::{Ordering, Word};
use super::mpmc::{RingCore, Slots};
use crate::packet::Packet;

/// A record names a claim.
const VALID: u64 = 1 << 63;
/// A survivor is completing the claim.
const RECOVERING: u64 = 1 << 62;
const REPAIRER_SHIFT: u32 = 58;
const REPAIRER_MASK: u64 = 0xF;
const RING_BIT: u64 = 1 << 57;
const LEN_SHIFT: u32 = 48;
const LEN_MASK: u64 = 0x1FF;
/// Positions are recorded modulo 2^48.
pub(crate) const POSITION_MASK: u64 = (1 << 48) - 1;

/// Most positions one receive batch claims, so its length fits a record.
pub(crate) const MAX_RECORDED_BATCH: u64 = LEN_MASK + 1;

/// Which claim word a record lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClaimKind {
    /// A producer's claim (`send_claim`).
    Send,
    /// A consumer's claim (`recv_claim`).
    Recv,
}

/// The record bits that identify one ring (0 or 1).
#[inline(always)]
pub(crate) fn ring_tag(ring: u8) -> u64 {
    VALID | if ring == 0 { 0 } else { RING_BIT }
}

/// Whether `word` is a producer's record on ring `ring` (0 or 1) naming
/// position `position` (compared modulo 2^48, as recorded).
pub(crate) fn names_send(word: u64, ring: u8, position: u64) -> bool {
    ClaimRecord::decode(word, ring_tag(ring))
        .is_some_and(|record| record.position() == position & POSITION_MASK)
}

/// The record of `len` (1..=[`MAX_RECORDED_BATCH`]) positions from `first`
/// on the ring tagged `tag`.
#[inline(always)]
pub(crate) fn encode(tag: u64, first: u64, len: u64) -> u64 {
    debug_assert!((1..=MAX_RECORDED_BATCH).contains(&len));
    tag | ((len.wrapping_sub(1) & LEN_MASK) << LEN_SHIFT) | (first & POSITION_MASK)
}

/// A decoded record word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClaimRecord {
    word: u64,
}

impl ClaimRecord {
    /// The record in `word`, if it is valid and on the ring tagged `tag`.
    pub(crate) fn decode(word: u64, tag: u64) -> Option<ClaimRecord> {
        (word & (VALID | RING_BIT) == tag).then_some(ClaimRecord { word })
    }

    /// The survivor completing this claim, if any.
    pub(crate) fn repairer(self) -> Option<usize> {
        (self.word & RECOVERING != 0)
            .then_some(((self.word >> REPAIRER_SHIFT) & REPAIRER_MASK) as usize)
    }

    fn position(self) -> u64 {
        self.word & POSITION_MASK
    }

    fn len(self) -> u64 {
        ((self.word >> LEN_SHIFT) & LEN_MASK) + 1
    }

    fn recovering_by(self, repairer: usize) -> u64 {
        (self.word & !(REPAIRER_MASK << REPAIRER_SHIFT))
            | RECOVERING
            | ((repairer as u64 & REPAIRER_MASK) << REPAIRER_SHIFT)
    }
}

/// What recovery completed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveredClaims {
    /// Slots of dead producers, published as tombstones.
    pub tombstones: u64,
    /// Slots of dead consumers, released (their messages are lost).
    pub released: u64,
}

impl std::ops::AddAssign for RecoveredClaims {
    fn add_assign(&mut self, other: RecoveredClaims) {
        self.tombstones += other.tombstones;
        self.released += other.released;
    }
}

/// Steps 1 to 4 of the module docs for the record `seen` in `word`, whose
/// claimant the caller found dead: takes the record as survivor `me` and
/// completes the claim on `core` (ring tagged `tag`). A record another
/// survivor is already recovering is taken over only if
/// `repairer_dead(its index)`. `tombstone` builds the tombstone for a slot
/// index.
#[allow(clippy::too_many_arguments)]
pub(crate) fn recover_record<S: Slots>(
    core: &RingCore<S>,
    word: &S::Word,
    seen: u64,
    tag: u64,
    kind: ClaimKind,
    me: usize,
    repairer_dead: impl FnOnce(usize) -> bool,
    tombstone: impl FnOnce(usize) -> Packet,
) -> RecoveredClaims {
    let Some(record) = ClaimRecord::decode(seen, tag) else {
        return RecoveredClaims::default();
    };
    if record
        .repairer()
        .is_some_and(|r| r == me || !repairer_dead(r))
    {
        return RecoveredClaims::default();
    }
    let mine = record.recovering_by(me);
    // AcqRel: exactly one survivor wins; Acquire pairs with the Release
    // record store of the claimant (after its claim CAS).
    if word
        .compare_exchange(seen, mine, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return RecoveredClaims::default();
    }
    let mut done = RecoveredClaims::default();
    match kind {
        ClaimKind::Send => {
            if core.complete_dead_send(record.position(), tombstone) {
                done.tombstones = 1;
            }
        }
        ClaimKind::Recv => done.released = core.complete_dead_recv(record.position(), record.len()),
    }
    // Release: a later survivor that reads 0 also sees our seq updates.
    let _ = word.compare_exchange(mine, 0, Ordering::Release, Ordering::Relaxed);
    done
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let tag = ring_tag(1);
        let word = encode(tag, (1 << 50) + 77, 3);
        let record = ClaimRecord::decode(word, tag).expect("valid");
        assert_eq!(record.position(), 77);
        assert_eq!(record.len(), 3);
        assert_eq!(record.repairer(), None);
        assert!(ClaimRecord::decode(word, ring_tag(0)).is_none());
        assert!(ClaimRecord::decode(0, tag).is_none());
        let taken = ClaimRecord::decode(record.recovering_by(9), tag).expect("valid");
        assert_eq!(taken.repairer(), Some(9));
        assert_eq!((taken.position(), taken.len()), (77, 3));
        let again = ClaimRecord::decode(taken.recovering_by(4), tag).expect("valid");
        assert_eq!(again.repairer(), Some(4));
        assert_eq!(
            encode(tag, 0, MAX_RECORDED_BATCH) >> LEN_SHIFT & LEN_MASK,
            LEN_MASK
        );
    }
}
