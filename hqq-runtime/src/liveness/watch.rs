//! Watching the other side of a link during blocked operations, including
//! sides that mix registered processes with processes that never register
//! (the Go implementation).
//!
//! [`peer_liveness`] can only speak for registered processes. When it
//! finds every registered process on the other side dead, a process that
//! never registered may still be there. A link therefore keeps, across its
//! operations, a [`PeerSide`]: what it has seen the other side do. The
//! other side moves two positions we can watch: the write position of the
//! ring it sends on, and the read position of the ring it receives from.
//!
//! * A check that finds a registered peer alive looks at the latest
//!   position claimed on the ring the other side sends on: every registered
//!   producer records each position it claims in its process-table entry
//!   (see [`crate::ring::claims`]), so a latest position that no entry's
//!   record names was claimed by a process that never registered, and the
//!   side is *mixed*.
//! * A check that finds every registered peer dead records those positions.
//!   If a later check finds them moved while the registered peers are still
//!   all dead, someone alive on that side moved them who is not registered:
//!   the side is *mixed*, and from then on its liveness is unknown (the link
//!   waits for its timeout, as with a Go peer).
//! * Positions that move between two checks that both find no registered
//!   peer at all also mark the side mixed.
//! * [`PeerLiveness::Gone`] is reported only by a check that finds every
//!   registered peer dead for the second time, at least one interval after
//!   the first, with the positions unmoved and the side not mixed.
//!
//! A process that never registers, and neither sent the latest message at
//! a check while registered peers lived nor sends within the interval right
//! after the last of them died, cannot be seen: then the link reports the
//! peer gone although it is there. The other mistakes go the safe way: a
//! side looks mixed (so a later death there ends in the timeout instead of
//! `PeerGone`) when a registered process with several sending threads
//! overwrote its record with an older claim, or when the latest message
//! came from a registered process that died and whose record a survivor
//! already cleared. Peers can write the positions and records: that too
//! only makes a side look mixed (a stall that the deadline ends), never a
//! live process dead.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{peer_liveness, LockProbe, PeerLiveness};
use crate::extension::ExtensionBlock;
use crate::ring::Ring;
use crate::superblock::Role;

/// How often a blocked operation asks [`peer_liveness`] (each check asks
/// the kernel about the other role's lock, one `fcntl`, and reads the
/// table when that lock is free).
pub const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// The rate limit of a periodic check during one blocked operation: due
/// once per [`PEER_CHECK_INTERVAL`], the first time one interval after it
/// is first asked. Creating one reads no clock, so an operation that waits
/// only briefly (and never asks) pays nothing for it.
#[derive(Debug, Default)]
pub(crate) struct CheckInterval {
    next: Cell<Option<Instant>>,
}

impl CheckInterval {
    /// Whether the check is due now (and if so, the next one is an
    /// interval away).
    pub(crate) fn due(&self) -> bool {
        let now = Instant::now();
        let due = self.next.get().is_some_and(|next| now >= next);
        if due || self.next.get().is_none() {
            self.next.set(Some(now + PEER_CHECK_INTERVAL));
        }
        due
    }
}

/// No positions recorded.
const NONE: u64 = u64::MAX;

/// What one link has seen the other side do, across its operations
/// (process-private; see the [module docs](self)).
#[derive(Debug)]
pub struct PeerSide {
    /// The side has shown a process that never registered.
    mixed: AtomicBool,
    /// The other side's progress when a check first found every registered
    /// peer dead ([`NONE`] if the last check did not).
    dead_at: AtomicU64,
    /// The other side's progress at the last check that found no registered
    /// peer at all ([`NONE`] if the last check found some).
    unregistered_at: AtomicU64,
    /// The other side's progress when the last check found it gone
    /// ([`NONE`] if it did not).
    gone_at: AtomicU64,
}

impl Default for PeerSide {
    fn default() -> Self {
        PeerSide {
            mixed: AtomicBool::new(false),
            dead_at: AtomicU64::new(NONE),
            unregistered_at: AtomicU64::new(NONE),
            gone_at: AtomicU64::new(NONE),
        }
    }
}

impl PeerSide {
    /// Whether the other side has shown a process that never registers, so
    /// that its liveness is unknown for good.
    pub fn is_mixed(&self) -> bool {
        self.mixed.load(Ordering::Relaxed)
    }

    /// Marks the side mixed: it has shown a process that never registers.
    fn mark_mixed(&self) {
        self.mixed.store(true, Ordering::Relaxed);
    }

    /// Folds one check into what we know: `liveness` as [`peer_liveness`]
    /// answered it, `progress` the other side's positions now. Returns
    /// whether the other side is gone.
    fn observe(&self, liveness: PeerLiveness, progress: u64) -> bool {
        let mixed_if_moved = |recorded: u64| {
            if recorded != NONE && recorded != progress {
                self.mark_mixed();
            }
        };
        let gone = match liveness {
            PeerLiveness::Alive => {
                self.dead_at.store(NONE, Ordering::Relaxed);
                self.unregistered_at.store(NONE, Ordering::Relaxed);
                false
            }
            PeerLiveness::Unknown => {
                mixed_if_moved(self.unregistered_at.swap(progress, Ordering::Relaxed));
                self.dead_at.store(NONE, Ordering::Relaxed);
                false
            }
            PeerLiveness::Gone => {
                self.unregistered_at.store(NONE, Ordering::Relaxed);
                let first = self.dead_at.swap(progress, Ordering::Relaxed);
                mixed_if_moved(first);
                first == progress && !self.is_mixed()
            }
        };
        let at = if gone { progress } else { NONE };
        self.gone_at.store(at, Ordering::Relaxed);
        gone
    }

    /// Whether the last check found the other side gone and it has not
    /// moved since (`progress`: its positions now). Asks nobody: for
    /// waiters that someone else checks for.
    #[cfg_attr(not(all(feature = "tokio", unix)), allow(dead_code))]
    fn was_gone_at(&self, progress: u64) -> bool {
        progress != NONE && self.gone_at.load(Ordering::Relaxed) == progress && !self.is_mixed()
    }
}

/// The link a [`PeerWatch`] watches: its memory of the other side, and the
/// rings whose positions the other side moves.
#[derive(Clone, Copy)]
pub(crate) struct WatchedLink<'a> {
    /// What the link has learned so far.
    pub(crate) side: &'a PeerSide,
    /// The ring the other side sends on (we watch its write position).
    pub(crate) rx: &'a Ring,
    /// The ring the other side receives from (we watch its read position).
    pub(crate) tx: &'a Ring,
    /// The ring number (0 or 1) of `rx`, as claim records name it.
    pub(crate) rx_ring: u8,
}

impl WatchedLink<'_> {
    /// Whether the latest position claimed on the ring the other side
    /// sends on (if any) is named by a producer record in `ext`'s table.
    fn latest_send_is_recorded(&self, ext: &ExtensionBlock) -> bool {
        let written = self.rx.positions().1;
        let Some(latest) = written.checked_sub(1) else {
            return true;
        };
        ext.processes().iter().any(|entry| {
            // Acquire: pairs with the Release record store after a claim.
            let word = entry.send_claim.load(Ordering::Acquire);
            crate::ring::claims::names_send(word, self.rx_ring, latest)
        })
    }

    /// The other side's progress: both positions it moves, summed (either
    /// moving changes the sum).
    fn progress(&self) -> u64 {
        let written = self.rx.positions().1;
        let read = self.tx.positions().0;
        // Never NONE, which means "not recorded".
        written.wrapping_add(read).min(NONE - 1)
    }
}

/// Rate-limited [`peer_liveness`] for one blocked operation: checks at most
/// every [`PEER_CHECK_INTERVAL`], first one interval after its first poll
/// (so an operation that waits briefly never probes), applies the rules
/// for mixed sides (see the [module docs](self)) and remembers a
/// [`PeerLiveness::Gone`] answer.
pub(crate) struct PeerWatch<'a> {
    ext: Option<&'a ExtensionBlock>,
    probe: Option<LockProbe<'a>>,
    role: Role,
    me: Option<usize>,
    link: WatchedLink<'a>,
    interval: CheckInterval,
    gone: Cell<bool>,
}

impl<'a> PeerWatch<'a> {
    /// Watches the other side of `role` in `ext` through `probe`, skipping
    /// our entry `me`, for `link`.
    pub(crate) fn new(
        ext: Option<&'a ExtensionBlock>,
        probe: Option<LockProbe<'a>>,
        role: Role,
        me: Option<usize>,
        link: WatchedLink<'a>,
    ) -> Self {
        PeerWatch {
            ext,
            probe,
            role,
            me,
            link,
            interval: CheckInterval::default(),
            gone: Cell::new(false),
        }
    }

    /// Whether the peer is known gone, checking if an interval has passed.
    pub(crate) fn poll(&self) -> bool {
        if self.gone.get() || self.ext.is_none() || self.probe.is_none() {
            return self.gone.get();
        }
        if self.interval.due() {
            self.gone.set(self.check());
        }
        self.gone.get()
    }

    /// Checks now, whatever the interval (for a caller that rate-limits
    /// its checks itself): whether the other side is gone, by the rules of
    /// the [module docs](self).
    pub(crate) fn check(&self) -> bool {
        if self.ext.is_none() || self.probe.is_none() {
            return false;
        }
        let liveness = peer_liveness(self.ext, self.probe.as_ref(), self.role, self.me);
        if liveness == PeerLiveness::Alive
            && self
                .ext
                .is_some_and(|ext| !self.link.latest_send_is_recorded(ext))
        {
            self.link.side.mark_mixed();
        }
        self.link.side.observe(liveness, self.link.progress())
    }

    /// Whether the last check of this link (by anyone) found the other side
    /// gone, with nothing moved since; checks nothing itself.
    #[cfg_attr(not(all(feature = "tokio", unix)), allow(dead_code))]
    pub(crate) fn known_gone(&self) -> bool {
        self.link.side.was_gone_at(self.link.progress())
    }

    /// Whether a [`poll`](Self::poll) found the peer gone.
    pub(crate) fn is_gone(&self) -> bool {
        self.gone.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_takes_two_dead_checks_without_progress() {
        let side = PeerSide::default();
        assert!(!side.observe(PeerLiveness::Alive, 5));
        assert!(!side.observe(PeerLiveness::Gone, 7), "first dead check");
        assert!(side.observe(PeerLiveness::Gone, 7));
        assert!(!side.is_mixed());
    }

    #[test]
    fn progress_after_every_registered_peer_died_marks_the_side_mixed() {
        let side = PeerSide::default();
        assert!(!side.observe(PeerLiveness::Gone, 7));
        assert!(
            !side.observe(PeerLiveness::Gone, 8),
            "an unregistered sender"
        );
        assert!(side.is_mixed());
        assert!(!side.observe(PeerLiveness::Gone, 8), "unknown for good");
        assert!(!side.observe(PeerLiveness::Alive, 9));
        assert!(!side.observe(PeerLiveness::Gone, 9));
        assert!(!side.observe(PeerLiveness::Gone, 9));
    }

    #[test]
    fn traffic_with_nobody_registered_marks_the_side_mixed() {
        let side = PeerSide::default();
        assert!(!side.observe(PeerLiveness::Unknown, 1));
        assert!(!side.observe(PeerLiveness::Unknown, 1));
        assert!(!side.is_mixed(), "no traffic: nothing learned");
        assert!(!side.observe(PeerLiveness::Unknown, 3));
        assert!(side.is_mixed());
    }

    #[test]
    fn gone_is_remembered_until_the_side_moves() {
        let side = PeerSide::default();
        assert!(!side.observe(PeerLiveness::Gone, 7));
        assert!(!side.was_gone_at(7), "one dead check is not gone");
        assert!(side.observe(PeerLiveness::Gone, 7));
        assert!(side.was_gone_at(7));
        assert!(!side.was_gone_at(8), "moved since");
        assert!(!side.observe(PeerLiveness::Alive, 7));
        assert!(!side.was_gone_at(7));
    }

    #[test]
    fn a_live_check_in_between_starts_the_count_again() {
        let side = PeerSide::default();
        assert!(!side.observe(PeerLiveness::Gone, 7));
        assert!(!side.observe(PeerLiveness::Alive, 9));
        assert!(!side.observe(PeerLiveness::Gone, 9));
        assert!(side.observe(PeerLiveness::Gone, 9));
        assert!(!side.is_mixed());
    }
}
