//! [`SlotOwners`]: which slots of a ring this process holds, in memory the
//! peer cannot touch.
//!
//! The shared positions and sequence numbers decide which *process* may use
//! a slot, and a peer can rewrite them: a peer that stores the write
//! position back to `p` while one of our threads holds `p` lets a second
//! thread of ours win `p` as well. Our own threads therefore take a slot
//! only by also taking its flag here, with an atomic swap: of two claims of
//! one slot within this process, exactly one sees the flag clear. The loser
//! reports the ring as corrupt instead of getting a second handle to the
//! buffer, so buffer access within this process is exclusive whatever the
//! peer writes.
//!
//! Every [`Ring`](super::Ring) of this process over the same ring memory
//! shares one `SlotOwners` (a process-wide table keyed by the ring's
//! address), so that the two ends of [`StandardLink::pair`](crate::link::StandardLink::pair),
//! or two links opened on one mapping, exclude each other too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// One flag per slot: set while a claim of this process holds the slot.
#[derive(Debug)]
pub(super) struct SlotOwners {
    held: Box<[AtomicBool]>,
}

impl SlotOwners {
    pub(super) fn new(count: usize) -> SlotOwners {
        SlotOwners {
            held: (0..count).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// The owners of the ring at address `ring` with `count` slots, shared
    /// with every other live `Ring` of this process at that address.
    pub(super) fn for_ring(ring: usize, count: usize) -> Arc<SlotOwners> {
        static TABLE: Mutex<Vec<(usize, Weak<SlotOwners>)>> = Mutex::new(Vec::new());
        let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
        table.retain(|(_, owners)| owners.strong_count() > 0);
        let shared = table
            .iter()
            .filter(|(at, _)| *at == ring)
            .find_map(|(_, owners)| owners.upgrade())
            // A ring at the same address with another count is a second
            // ring over overlapping memory, which `Ring::init`/`attach`
            // forbid; it still gets flags of its own size rather than
            // indexing out of range.
            .filter(|owners| owners.held.len() == count);
        shared.unwrap_or_else(|| {
            let owners = Arc::new(SlotOwners::new(count));
            table.push((ring, Arc::downgrade(&owners)));
            owners
        })
    }

    /// Takes slot `index` for a claim; `false` if a claim of this process
    /// already holds it (or `index` is out of range).
    #[inline(always)]
    pub(super) fn take(&self, index: usize) -> bool {
        // Acquire: pairs with the Release store in `give_back`, so the
        // previous holder's buffer accesses happen before ours.
        self.held
            .get(index)
            .is_some_and(|held| !held.swap(true, Ordering::Acquire))
    }

    /// Gives slot `index` back, after the last access to its buffer.
    #[inline(always)]
    pub(super) fn give_back(&self, index: usize) {
        if let Some(held) = self.held.get(index) {
            // Release: pairs with the Acquire swap in `take`.
            held.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_slot_cannot_be_taken_twice() {
        let owners = SlotOwners::new(4);
        assert!(owners.take(1));
        assert!(!owners.take(1));
        assert!(owners.take(2));
        owners.give_back(1);
        assert!(owners.take(1));
        assert!(!owners.take(4));
    }

    #[test]
    fn rings_at_one_address_share_owners() {
        let key = 0x1000_usize;
        let a = SlotOwners::for_ring(key, 8);
        let b = SlotOwners::for_ring(key, 8);
        assert!(a.take(3));
        assert!(!b.take(3));
        let other = SlotOwners::for_ring(key + 64, 8);
        assert!(other.take(3));
    }
}
