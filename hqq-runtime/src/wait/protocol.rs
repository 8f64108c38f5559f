//! The steps of the event-count protocol (see the [module docs](super))
//! that touch the two shared words, written once over [`EventWord`] so
//! that the same code runs on the segment's `AtomicU32`s and, under
//! `cfg(loom)`, on loom's atomics in the model that checks it.

use std::sync::atomic::Ordering;

/// An atomic `u32` cell: what the protocol needs of `seq` and `waiters`.
pub(crate) trait EventWord {
    /// Atomic load.
    fn load(&self, order: Ordering) -> u32;
    /// Atomic wrapping add; returns the previous value.
    fn fetch_add(&self, value: u32, order: Ordering) -> u32;
    /// Atomic wrapping subtract; returns the previous value.
    fn fetch_sub(&self, value: u32, order: Ordering) -> u32;
}

impl EventWord for std::sync::atomic::AtomicU32 {
    #[inline(always)]
    fn load(&self, order: Ordering) -> u32 {
        std::sync::atomic::AtomicU32::load(self, order)
    }

    #[inline(always)]
    fn fetch_add(&self, value: u32, order: Ordering) -> u32 {
        std::sync::atomic::AtomicU32::fetch_add(self, value, order)
    }

    #[inline(always)]
    fn fetch_sub(&self, value: u32, order: Ordering) -> u32 {
        std::sync::atomic::AtomicU32::fetch_sub(self, value, order)
    }
}

#[cfg(loom)]
impl EventWord for loom::sync::atomic::AtomicU32 {
    fn load(&self, order: Ordering) -> u32 {
        loom::sync::atomic::AtomicU32::load(self, order)
    }

    fn fetch_add(&self, value: u32, order: Ordering) -> u32 {
        loom::sync::atomic::AtomicU32::fetch_add(self, value, order)
    }

    fn fetch_sub(&self, value: u32, order: Ordering) -> u32 {
        loom::sync::atomic::AtomicU32::fetch_sub(self, value, order)
    }
}

/// Notify steps (b) and (c) short of the system call: whether anyone may
/// be parked, in which case `seq` has been bumped and the caller must
/// `futex_wake` it.
#[inline(always)]
pub(crate) fn bump_if_waited<W: EventWord>(seq: &W, waiters: &W) -> bool {
    // AcqRel read-modify-write that adds nothing: it takes its place in the
    // modification order of `waiters`, which is what orders it against a
    // waiter's increment. On x86-64 it compiles to a fence and a load, so
    // the line stays shared while nobody parks.
    if waiters.fetch_add(0, Ordering::AcqRel) == 0 {
        return false;
    }
    // Release: a waiter whose `seen` includes this bump also sees the data
    // published before it.
    seq.fetch_add(1, Ordering::Release);
    true
}

/// Park steps 1 and 2: announces a waiter and returns `seen`, the value of
/// `seq` to sleep on. The caller then re-checks its condition (step 3).
#[inline(always)]
pub(crate) fn announce<W: EventWord>(seq: &W, waiters: &W) -> u32 {
    // Acquire: pairs with the Release bump in `bump_if_waited`.
    let seen = seq.load(Ordering::Acquire);
    // AcqRel: ordered against a notifier's read-modify-write of `waiters`:
    // either it counts us and wakes us, or we synchronize with it and the
    // re-check sees its data.
    waiters.fetch_add(1, Ordering::AcqRel);
    seen
}

/// Park step 5: withdraws the waiter that [`announce`] added.
#[inline(always)]
pub(crate) fn withdraw<W: EventWord>(waiters: &W) {
    // Release: keeps the re-check before our leaving.
    waiters.fetch_sub(1, Ordering::Release);
}
