//! [`Readiness`]: the waiting state of one async operation (or of one
//! direction's `poll_*_ready`) between failed `try_` attempts.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::watcher::{watcher, Interest, Key, OwnsLink};
use crate::link::StandardLink;

/// How many times in a row readiness may be reported at once (the ring
/// hint says ready, the `try_` call still fails: contention, or a peer
/// flooding tombstones) before the task yields to its scheduler, so that
/// one poll does bounded work.
const READY_STREAK: u32 = 8;

/// Longest a wait's first blocked poll spins in place, for a readiness made
/// by [`Readiness::spinning_in_place`] (at most the link's
/// [`WaitPolicy::spin`](crate::wait::WaitPolicy::spin)). A peer's answer
/// to a round trip usually lands within it, and then the task does not go
/// through its runtime's wake-up (on tokio's current-thread runtime with
/// an I/O driver: an `eventfd` write and an `epoll_wait`), which cost more
/// than the round trip itself. Measured: 64 B round trips on one
/// Standard link were caught by this spin in ~90% of waits with 1-3 µs.
/// It holds the executor for at most this long once per wait, so other
/// tasks on the thread wait at most that much longer. The Advanced link's
/// waits do not spin in place: its shared ring watch is armed afresh
/// after every delivery, and with 1000 calls in flight spinning there cut
/// the calls per second by about 3x.
pub(crate) const POLL_SPIN: Duration = Duration::from_micros(2);

/// Ring checks between clock reads while spinning in place.
const SPIN_CHECKS: u32 = 16;

/// The peer is gone: every process on the other side of the link is dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PeerGone;

/// Waiting state: first a short spin (the first blocked poll spins in
/// place for up to [`POLL_SPIN`], then the task re-polls itself for the
/// rest of the link's [`WaitPolicy::spin`](crate::wait::WaitPolicy::spin),
/// letting other tasks run in between), then a registration with the process's
/// waiter thread. Dropping it withdraws the registration.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    key: Option<Key>,
    /// When the current wait began (`None`: not waiting).
    since: Option<Instant>,
    streak: u32,
    /// Whether the first blocked poll of a wait spins in place.
    in_place: bool,
}

impl Readiness {
    /// A readiness whose waits first spin in place for up to
    /// [`POLL_SPIN`] (the Standard link's own operations, where one task
    /// usually waits for one answer).
    pub(crate) fn spinning_in_place() -> Self {
        Readiness {
            in_place: true,
            ..Readiness::default()
        }
    }

    /// Ready once `interest` looks available on `link` (the caller then
    /// retries its `try_` call, which may still fail), or with
    /// [`PeerGone`] once the other side is known dead.
    pub(crate) fn poll_ready<L: OwnsLink>(
        &mut self,
        owner: &Arc<L>,
        interest: Interest,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), PeerGone>> {
        let link = owner.standard();
        if !interest.blocked(link) || self.spin_in_poll(link, interest) {
            self.streak += 1;
            if self.streak <= READY_STREAK {
                self.finish();
                return Poll::Ready(Ok(()));
            }
            self.streak = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.streak = 0;
        // Woken by the waiter thread (or spuriously) while still blocked:
        // it wakes us when its checks found the peer gone, among other
        // reasons (the checks themselves are the thread's, one per
        // interval, with the rules for mixed sides).
        if self.key.is_some() && link.peer_known_gone() {
            self.finish();
            return Poll::Ready(Err(PeerGone));
        }
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        let spinning = now.saturating_duration_since(since) < link.wait_policy().spin;
        let owner: Arc<dyn OwnsLink> = Arc::clone(owner) as Arc<dyn OwnsLink>;
        if spinning || !watcher().register(&mut self.key, &owner, interest, cx.waker(), since) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// The first blocked poll of a wait spins in place for up to
    /// [`POLL_SPIN`]: `true` if `interest` became available meanwhile.
    /// Later polls of the wait do not spin in place.
    fn spin_in_poll(&mut self, link: &StandardLink, interest: Interest) -> bool {
        if self.since.is_some() || !self.in_place {
            return false;
        }
        let start = Instant::now();
        self.since = Some(start);
        let budget = link.wait_policy().spin.min(POLL_SPIN);
        while start.elapsed() < budget {
            for _ in 0..SPIN_CHECKS {
                std::hint::spin_loop();
                if !interest.blocked(link) {
                    return true;
                }
            }
        }
        false
    }

    /// Waits until [`poll_ready`](Self::poll_ready) is ready.
    pub(crate) async fn ready<L: OwnsLink>(
        &mut self,
        link: &Arc<L>,
        interest: Interest,
    ) -> Result<(), PeerGone> {
        poll_fn(|cx| self.poll_ready(link, interest, cx)).await
    }

    /// A wait ended without this readiness seeing it (a shared one: the
    /// task that took its item did not poll it): the next wait spins
    /// first again. A registration stays (someone may still wait on it).
    pub(crate) fn restart_spin(&mut self) {
        self.since = None;
    }

    /// Ends the current wait: withdraws the registration (the next wait
    /// spins first again).
    pub(crate) fn finish(&mut self) {
        self.since = None;
        if self.key.is_some() {
            watcher().deregister(&mut self.key);
        }
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        self.finish();
    }
}
