//! [`EventIdle`]: the [`Idle`] strategy of a link's blocking claims, which
//! joins the ring's claim loop and the futex-backed [`Waiter`].
//!
//! The ring's claim loop is `try_claim(); idle(attempt)`. Before it parks,
//! the [`Waiter`] announces itself in the event's `waiters` word and then
//! re-checks the ring itself ([`Ring::is_empty_hint`] for a receive,
//! [`Ring::is_full_hint`] for a send). A notifier publishes its packet (or
//! releases its slot), then reads `waiters` with a read-modify-write: either
//! it counts us and wakes us, or our re-check sees its packet (or slot) and
//! we do not park (see [`wait`](crate::wait)).

use std::cell::RefCell;
use std::time::Instant;

use crate::extension::ExtensionBlock;
use crate::liveness::{self, CheckInterval, LockProbe, PeerWatch, ProcessStatus};
use crate::ring::{EventWords, Idle, IdleOutcome, RecoveredClaims, Ring};
use crate::wait::{EventCount, WaitPolicy, WaitStats, Waiter, WaiterRecord};

/// Waits for an event (data published, or space released) with a
/// [`Waiter`]: spin, yield, then park on the event's futex in slices.
///
/// One `EventIdle` serves one blocking operation on one thread.
pub(crate) struct EventIdle<'a> {
    /// The ring we wait on, and what we wait for on it.
    ring: &'a Ring,
    wants: Wants,
    waiter: RefCell<Waiter<'a>>,
    /// Ends the wait (as a timeout) once every peer is known dead.
    peer: Option<PeerWatch<'a>>,
    /// Completes dead processes' claims on the ring we wait on.
    dead_claims: Option<DeadClaims<'a>>,
}

/// What a blocked operation waits for on its ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wants {
    /// A published slot (a blocked receive).
    Data,
    /// A free slot (a blocked send).
    Space,
}

/// While spinning, the liveness and dead-claim checks (each a clock read,
/// rate-limited to once per [`PEER_CHECK_INTERVAL`](crate::liveness::PEER_CHECK_INTERVAL)) run only every this
/// many attempts, so the spin re-checks the ring as often as it can.
const SPIN_CHECK_EVERY: u32 = 256;

/// Rate-limited [`Ring::recover_dead_claims`] and
/// [`liveness::clear_dead_waiters`] for one blocked operation:
/// at most once per [`PEER_CHECK_INTERVAL`](crate::liveness::PEER_CHECK_INTERVAL), first one interval after its
/// first poll, so a wait that ends quickly never scans the process table
/// and a claimant gets at least one interval before it is looked at.
pub(crate) struct DeadClaims<'a> {
    ring: &'a Ring,
    ext: &'a ExtensionBlock,
    probe: LockProbe<'a>,
    me: usize,
    interval: CheckInterval,
}

impl<'a> DeadClaims<'a> {
    pub(crate) fn new(
        ring: &'a Ring,
        ext: &'a ExtensionBlock,
        probe: LockProbe<'a>,
        me: usize,
    ) -> Self {
        DeadClaims {
            ring,
            ext,
            probe,
            me,
            interval: CheckInterval::default(),
        }
    }

    /// Recovers now, whatever the interval: only claims of processes whose
    /// death the kernel's locks prove.
    pub(crate) fn recover(&self) -> RecoveredClaims {
        let dead =
            |index| liveness::entry_status(self.ext, index, &self.probe) == ProcessStatus::Dead;
        self.ring.recover_dead_claims(self.ext, self.me, dead)
    }

    /// Recovers claims and withdraws dead waiters if an interval has
    /// passed; whether a claim was completed.
    fn poll(&self) -> bool {
        if !self.interval.due() {
            return false;
        }
        liveness::clear_dead_waiters(self.ext, &self.probe, Some(self.me));
        self.recover() != RecoveredClaims::default()
    }
}

impl<'a> EventIdle<'a> {
    /// Waits on `ring` for `wants`, parking on the event `words` that the
    /// other side notifies after making it available.
    pub(crate) fn new(
        ring: &'a Ring,
        wants: Wants,
        (seq, waiters): EventWords<'a>,
        deadline: Option<Instant>,
        policy: WaitPolicy,
    ) -> Self {
        EventIdle {
            ring,
            wants,
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

    /// Also counts our parks in `record` (our process-table entry), so that
    /// a survivor can withdraw them if we die parked.
    pub(crate) fn parked_as(mut self, record: Option<WaiterRecord<'a>>) -> Self {
        if let Some(record) = record {
            self.waiter.get_mut().record_parks_in(record);
        }
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

impl EventIdle<'_> {
    /// Whether the ring still lacks what we wait for.
    fn still_blocked(&self) -> bool {
        match self.wants {
            Wants::Data => self.ring.is_empty_hint(),
            Wants::Space => self.ring.is_full_hint(),
        }
    }
}

impl Idle for EventIdle<'_> {
    fn spins(&self, _attempt: u32) -> bool {
        self.waiter.borrow().is_spinning()
    }

    fn idle(&self, attempt: u32, _deadline: Option<Instant>) -> IdleOutcome {
        let mut waiter = self.waiter.borrow_mut();
        if !waiter.is_spinning() || attempt % SPIN_CHECK_EVERY == SPIN_CHECK_EVERY - 1 {
            if self.dead_claims.as_ref().is_some_and(DeadClaims::poll) {
                // A completed slot is claimable now: retry before parking.
                return IdleOutcome::Retry;
            }
            if self.peer.as_ref().is_some_and(PeerWatch::poll) {
                return IdleOutcome::TimedOut;
            }
        }
        // The waiter holds the same deadline and counts its own phases.
        match waiter.wait(|| self.still_blocked()) {
            Ok(()) => IdleOutcome::Retry,
            Err(_) => IdleOutcome::TimedOut,
        }
    }
}
