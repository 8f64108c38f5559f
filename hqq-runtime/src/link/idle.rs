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

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::extension::ExtensionBlock;
use crate::liveness::{PeerWatch, PEER_CHECK_INTERVAL};
use crate::ring::{Idle, IdleOutcome, RecoveredClaims, Ring};
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
    /// Completes dead processes' claims on the ring we wait on.
    dead_claims: Option<DeadClaims<'a>>,
}

/// Rate-limited [`Ring::recover_dead_claims`] for one blocked operation:
/// at most once per [`PEER_CHECK_INTERVAL`], first one interval after
/// creation, so a wait that ends quickly never scans the process table and
/// a claimant gets at least one interval before it is looked at.
pub(crate) struct DeadClaims<'a> {
    ring: &'a Ring,
    ext: &'a ExtensionBlock,
    me: usize,
    next_check: Cell<Instant>,
}

impl<'a> DeadClaims<'a> {
    pub(crate) fn new(ring: &'a Ring, ext: &'a ExtensionBlock, me: usize) -> Self {
        DeadClaims {
            ring,
            ext,
            me,
            next_check: Cell::new(Instant::now() + PEER_CHECK_INTERVAL),
        }
    }

    /// Recovers now, whatever the interval.
    pub(crate) fn recover(&self) -> RecoveredClaims {
        self.ring.recover_dead_claims(self.ext, self.me)
    }

    /// Recovers if an interval has passed; whether anything was completed.
    fn poll(&self) -> bool {
        let now = Instant::now();
        if now < self.next_check.get() {
            return false;
        }
        self.next_check.set(now + PEER_CHECK_INTERVAL);
        self.recover() != RecoveredClaims::default()
    }
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
            dead_claims: None,
        }
    }

    /// Also completes dead processes' claims on the ring we wait on.
    pub(crate) fn recovering(mut self, dead_claims: Option<DeadClaims<'a>>) -> Self {
        self.dead_claims = dead_claims;
        self
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
        if self.dead_claims.as_ref().is_some_and(DeadClaims::poll) {
            // A completed slot is claimable now: retry before parking.
            return IdleOutcome::Retry;
        }
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
