//! [`Readiness`]: the waiting state of one async operation (or of one
//! direction's `poll_*_ready`) between failed `try_` attempts.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::watcher::{watcher, Interest, Key, OwnsLink};

/// How many times in a row readiness may be reported at once (the ring
/// hint says ready, the `try_` call still fails: contention, or a peer
/// flooding tombstones) before the task yields to its scheduler, so that
/// one poll does bounded work.
const READY_STREAK: u32 = 8;

/// The peer is gone: every process on the other side of the link is dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PeerGone;

/// Waiting state: first a short spin (the task re-polls itself for the
/// link's [`WaitPolicy::spin`](crate::wait::WaitPolicy::spin), letting
/// other tasks run in between), then a registration with the process's
/// waiter thread. Dropping it withdraws the registration.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    key: Option<Key>,
    /// When the current wait began (`None`: not waiting).
    since: Option<Instant>,
    streak: u32,
}

impl Readiness {
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
        if !interest.blocked(link) {
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
