//! [`EventIdle`]: the [`Idle`] strategy of a link's blocking claims, which
//! joins the ring's claim loop and the futex-backed [`Waiter`].
//!
//! The ring's claim loop is `ticket = prepare(); try_claim(); idle(ticket)`.
//! [`EventIdle::prepare`] loads the event's `seq` word (Acquire) before the
//! attempt, and [`EventIdle::idle`] lets the waiter park only while `seq`
//! still holds that value. A notifier publishes its packet (or releases its
//! slot), then bumps `seq`: if the bump came before our load, the Acquire
//! load synchronizes with it and our claim attempt sees the packet; if it
//! came after, `seq` differs from the ticket and we do not park (or the
//! waiter's registration makes the notifier wake us; see
//! [`wait`](crate::wait)).

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::liveness::PeerWatch;
use crate::ring::{Idle, IdleOutcome};
use crate::wait::{EventCount, WaitPolicy, WaitStats, Waiter};

/// The `seq` and `waiters` words of one event, as [`EventCount`] takes them.
pub(crate) type EventWords<'a> = (
    &'a std::sync::atomic::AtomicU32,
    &'a std::sync::atomic::AtomicU32,
);

/// Waits for an event (data published, or space released) with a
/// [`Waiter`]: spin, yield, then park on the event's futex in slices.
///
/// One `EventIdle` serves one blocking operation on one thread.
pub(crate) struct EventIdle<'a> {
    seq: &'a std::sync::atomic::AtomicU32,
    waiter: RefCell<Waiter<'a>>,
    /// Ends the wait (as a timeout) once every peer is known dead.
    peer: Option<PeerWatch<'a>>,
}

impl<'a> EventIdle<'a> {
    pub(crate) fn new(
        (seq, waiters): EventWords<'a>,
        deadline: Option<Instant>,
        policy: WaitPolicy,
    ) -> Self {
        EventIdle {
            seq,
            waiter: RefCell::new(Waiter::with_policy(
                EventCount::new(seq, waiters),
                deadline,
                policy,
            )),
            peer: None,
        }
    }

    /// Also ends the wait when `peer` finds the other side dead.
    pub(crate) fn watching(mut self, peer: PeerWatch<'a>) -> Self {
        self.peer = Some(peer);
        self
    }

    /// Whether the wait ended because the peer is gone.
    pub(crate) fn peer_gone(&self) -> bool {
        self.peer.as_ref().is_some_and(PeerWatch::is_gone)
    }

    /// What the waiter did.
    pub(crate) fn stats(&self) -> WaitStats {
        self.waiter.borrow().stats()
    }
}

impl Idle for EventIdle<'_> {
    #[inline]
    fn prepare(&self) -> u32 {
        // Acquire: pairs with the Release bump in `EventCount::notify` made
        // after the peer published (see the module docs).
        self.seq.load(Ordering::Acquire)
    }

    fn idle(&self, ticket: u32, _attempt: u32, _deadline: Option<Instant>) -> IdleOutcome {
        if self.peer.as_ref().is_some_and(PeerWatch::poll) {
            return IdleOutcome::TimedOut;
        }
        // The waiter holds the same deadline and counts its own phases.
        let still_blocked = || self.seq.load(Ordering::Acquire) == ticket;
        match self.waiter.borrow_mut().wait(still_blocked) {
            Ok(()) => IdleOutcome::Retry,
            Err(_) => IdleOutcome::TimedOut,
        }
    }
}
