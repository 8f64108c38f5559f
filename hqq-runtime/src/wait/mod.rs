//! Waiting without burning a core: spin briefly, then yield, then park on a
//! cross-process futex.
//!
//! A blocked reader (ring empty) or writer (ring full) loops on its
//! non-blocking operation and calls [`Waiter::wait`] after each failure:
//!
//! ```
//! use hqq_runtime::wait::{EventCount, Waiter};
//! use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
//! use std::time::{Duration, Instant};
//!
//! // In a link these words live in the superblock's extension block.
//! let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
//! let data_ready = AtomicBool::new(false);
//! let event = EventCount::new(&seq, &waiters);
//!
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         data_ready.store(true, Ordering::Release); // publish ...
//!         event.notify(); // ... then ring the event
//!     });
//!     let mut waiter = Waiter::new(event, Some(Instant::now() + Duration::from_secs(10)));
//!     while !data_ready.load(Ordering::Acquire) {
//!         waiter.wait(|| !data_ready.load(Ordering::Acquire)).expect("deadline");
//!     }
//! });
//! ```
//!
//! # The event count
//!
//! An [`EventCount`] is two `u32` words in shared memory: `seq`, bumped by
//! a [`notify`](EventCount::notify) that finds a sleeper, and `waiters`,
//! the number of threads (in any process) parked or about to park on
//! `seq`. When nobody sleeps, a notifier pays one read-modify-write of
//! `waiters` that adds zero: no store to a line a spinning peer reads, and
//! no system call. It bumps `seq` and issues a `futex_wake` only when
//! `waiters` is non-zero.
//!
//! Parking (after the spin and yield phases) goes:
//!
//! 1. `seen = seq` (Acquire);
//! 2. `waiters += 1` (AcqRel read-modify-write);
//! 3. re-check the caller's condition; if no longer blocked, skip 4;
//! 4. `futex_wait(seq, seen, park slice)`;
//! 5. `waiters -= 1`.
//!
//! Notifying goes: (a) the caller publishes its data; (b) `n = waiters + 0`
//! (AcqRel read-modify-write); (c) if `n != 0`, `seq += 1` (Release) and
//! `futex_wake(seq, all)`.
//!
//! **No lost wake-up.** Take a waiter that sleeps in 4 and a notifier whose
//! data it has not seen. Read-modify-writes of `waiters` are totally
//! ordered (its modification order). If (b) comes after 2, it reads a
//! count that includes our waiter (which decrements only in 5), so the
//! notifier bumps `seq` and wakes. The futex checks `seq == seen` and
//! enqueues the sleeper atomically with respect to that wake, so either
//! the sleeper is already queued and is woken, or `seq` already differs
//! from `seen` and it does not sleep; `seen` cannot include the bump, as
//! (c) happens after (b), (b) after 2 and 2 after 1. If (b) comes before
//! 2, then 2 reads the value (b) wrote or a later one in its release
//! sequence, so (b) synchronizes with 2 and the re-check in 3 sees the data
//! published in (a): it does not park.
//!
//! **Peers that never notify.** The Go implementation of HQQ knows nothing
//! of these words. Every park is therefore bounded by a short slice
//! ([`WaitPolicy::park_slice`], 1 ms by default; longer once the wait has
//! been idle for a while, see [`WaitPolicy`]), after which the caller
//! re-checks its ring: data from such a peer is seen within about one slice.
//!
//! **Waiters that die parked.** A process killed while parked cannot
//! withdraw from `waiters`. A waiter may also count its parks in a word
//! of its own ([`Waiter::record_parks_in`]; links use their process-table
//! entry, see [`crate::liveness::waiters`]) so that a survivor that proves
//! the process dead can withdraw them for it.
//!
//! **Untrusted words.** A peer can write anything into `seq` and `waiters`.
//! The worst it achieves is extra wake syscalls (a stuck non-zero `waiters`),
//! a slice of latency (a zeroed `waiters`), or a waiter that keeps returning
//! early (a `seq` that changes constantly); counts wrap instead of
//! overflowing, and no wait outlasts its deadline.

use std::fmt;
use std::ops::AddAssign;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::futex::{futex_wait, futex_wake, FutexWait};

#[cfg(all(test, loom))]
mod loom_model;
pub(crate) mod protocol;

/// A futex-backed event count: the `seq` and `waiters` words of one
/// direction of a link (see the [module docs](self)).
#[derive(Debug, Clone, Copy)]
pub struct EventCount<'a> {
    seq: &'a AtomicU32,
    waiters: &'a AtomicU32,
}

impl<'a> EventCount<'a> {
    /// The event count made of these two words, which normally live in a
    /// shared [`Segment`](crate::segment::Segment).
    pub const fn new(seq: &'a AtomicU32, waiters: &'a AtomicU32) -> Self {
        Self { seq, waiters }
    }

    /// Signals that the condition waiters wait for may have changed: if
    /// anyone is parked, bumps `seq` and wakes all of them. Call it *after*
    /// publishing the data (the ring store).
    ///
    /// Returns whether a `futex_wake` system call was made.
    #[inline]
    pub fn notify(&self) -> bool {
        if !protocol::bump_if_waited(self.seq, self.waiters) {
            return false;
        }
        futex_wake(self.seq, i32::MAX);
        true
    }
}

/// A 16-bit field of a `u64` word in which a [`Waiter`] counts its parks,
/// raised after it announces itself in the event's `waiters` word and
/// lowered before it withdraws, so the field never counts more parked
/// threads than `waiters` holds for this owner.
#[derive(Debug, Clone, Copy)]
pub struct WaiterRecord<'a> {
    word: &'a AtomicU64,
    shift: u32,
}

impl<'a> WaiterRecord<'a> {
    /// The field of `word` at bit `shift` (taken modulo 64, rounded down
    /// to a multiple of 16).
    pub fn new(word: &'a AtomicU64, shift: u32) -> Self {
        WaiterRecord {
            word,
            shift: shift % 64 / 16 * 16,
        }
    }

    fn add(&self) {
        // Relaxed: the word is only read by a survivor after it proved us
        // dead through the kernel, which orders everything we did before.
        self.word.fetch_add(1 << self.shift, Ordering::Relaxed);
    }

    fn remove(&self) {
        self.word.fetch_sub(1 << self.shift, Ordering::Relaxed);
    }
}

/// How long a [`Waiter`] spins and yields before it parks, and how long one
/// park lasts.
///
/// Parks are short ([`park_slice`](Self::park_slice)) while a wait is young,
/// so that data from a peer that never notifies is seen within about a
/// millisecond while traffic flows, and lengthen to
/// [`idle_park_slice`](Self::idle_park_slice) once the wait has lasted
/// [`idle_after`](Self::idle_after), so that a long-idle waiter costs well
/// under 1% of a core even where each timed sleep is expensive (in a
/// virtual machine a bare 1 ms sleep loop can cost 1.5% of a core). Set
/// `idle_park_slice` equal to `park_slice` for uniform 1 ms polling, or
/// longer when every writer is known to notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// How long to spin before yielding: each [`Waiter::wait`] of this
    /// phase is one spin-loop hint, so the caller re-checks its condition
    /// every few tens of nanoseconds and sees a peer's answer almost as
    /// soon as it lands. Measured on the clock (read every
    /// [`SPIN_CLOCK_EVERY`] spins), as spin-loop hints cost from a few to
    /// over a hundred cycles depending on the processor.
    pub spin: Duration,
    /// Number of `thread::yield_now` calls before parking.
    pub yields: u32,
    /// Longest single park while the wait is younger than
    /// [`idle_after`](Self::idle_after). It bounds how late data from a peer
    /// that never notifies (the Go implementation) is noticed.
    pub park_slice: Duration,
    /// How long a wait parks with [`park_slice`](Self::park_slice) before
    /// it counts as idle, measured from its first park.
    pub idle_after: Duration,
    /// Longest single park once the wait is idle.
    pub idle_park_slice: Duration,
}

impl WaitPolicy {
    /// 50 µs of spinning (a peer's answer usually lands within it, so a
    /// round trip never leaves user space), 20 yields, then 1 ms parks,
    /// lengthening to 4 ms parks after 100 ms of parking.
    pub const DEFAULT: Self = Self {
        spin: Duration::from_micros(50),
        yields: 20,
        park_slice: Duration::from_millis(1),
        idle_after: Duration::from_millis(100),
        idle_park_slice: Duration::from_millis(4),
    };

    /// For links on a segment with our extension block, whose hqq peers
    /// wake a parked side through its wake words: the same spinning and
    /// yielding as [`DEFAULT`](Self::DEFAULT) and 1 ms parks while a wait is
    /// young, then 20 ms parks once it has been idle for 100 ms. A peer that
    /// never notifies (a Go secondary on our segment) is still noticed
    /// within 1 ms while traffic flows and within 20 ms after a pause; the
    /// fewer timed wake-ups keep a long-idle reader's CPU cost low.
    pub const WAKE_WORDS: Self = Self {
        spin: Duration::from_micros(50),
        yields: 20,
        park_slice: Duration::from_millis(1),
        idle_after: Duration::from_millis(100),
        idle_park_slice: Duration::from_millis(20),
    };

    /// For waits where every writer is known to notify (an hqq peer that
    /// uses the extension block): the same spinning and yielding, then parks
    /// of 100 ms that only guard against a missed or lost notification.
    pub const NOTIFYING_PEER: Self = Self {
        spin: Duration::from_micros(50),
        yields: 20,
        park_slice: Duration::from_millis(100),
        idle_after: Duration::ZERO,
        idle_park_slice: Duration::from_millis(100),
    };
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Counters of what [`Waiter`]s did; add them up with `+=` to keep totals
/// across blocking operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct WaitStats {
    /// Calls to [`Waiter::wait`].
    pub waits: u64,
    /// Spin rounds.
    pub spins: u64,
    /// `thread::yield_now` calls.
    pub yields: u64,
    /// Futex waits entered.
    pub parks: u64,
    /// Futex waits that ended by their slice running out rather than by a
    /// wake-up (many of these mean the peer does not notify).
    pub park_timeouts: u64,
    /// Waits that ended with [`WaitTimeout`].
    pub deadline_expiries: u64,
}

impl AddAssign for WaitStats {
    fn add_assign(&mut self, other: Self) {
        self.waits += other.waits;
        self.spins += other.spins;
        self.yields += other.yields;
        self.parks += other.parks;
        self.park_timeouts += other.park_timeouts;
        self.deadline_expiries += other.deadline_expiries;
    }
}

/// The deadline of a [`Waiter`] passed while the caller was still blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitTimeout;

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deadline passed while waiting")
    }
}

impl std::error::Error for WaitTimeout {}

/// The waiting state of one blocking operation: create one when the
/// operation first finds it must wait, call [`wait`](Self::wait) after each
/// failed attempt, and drop it when the operation succeeds.
#[derive(Debug)]
pub struct Waiter<'a> {
    event: EventCount<'a>,
    deadline: Option<Instant>,
    policy: WaitPolicy,
    /// Whether the wait is still in its spin phase.
    spinning: bool,
    /// When the spin phase ends; set at the first clock read.
    spin_until: Option<Instant>,
    yields_done: u32,
    /// When this wait first parked.
    parked_since: Option<Instant>,
    stats: WaitStats,
    /// Where parks are also counted for their owner, if anywhere.
    record: Option<WaiterRecord<'a>>,
}

/// How many spins of a [`Waiter`] share one clock read (for the end of the
/// spin phase and the deadline): a clock read costs about as much as a
/// spin, and reading it on every spin would halve how often the caller
/// re-checks its condition.
pub const SPIN_CLOCK_EVERY: u64 = 32;

impl<'a> Waiter<'a> {
    /// A waiter on `event` with the [default policy](WaitPolicy::DEFAULT).
    /// `deadline: None` waits until the condition changes, however long
    /// that takes (still in bounded park slices).
    pub fn new(event: EventCount<'a>, deadline: Option<Instant>) -> Self {
        Self::with_policy(event, deadline, WaitPolicy::DEFAULT)
    }

    /// A waiter on `event` with an explicit policy.
    pub fn with_policy(
        event: EventCount<'a>,
        deadline: Option<Instant>,
        policy: WaitPolicy,
    ) -> Self {
        Self {
            event,
            deadline,
            policy,
            spinning: true,
            spin_until: None,
            yields_done: 0,
            parked_since: None,
            stats: WaitStats::default(),
            record: None,
        }
    }

    /// Also counts each park in `record` while it lasts (see
    /// [`WaiterRecord`]), so that a survivor can withdraw it if this
    /// process dies parked.
    pub fn record_parks_in(&mut self, record: WaiterRecord<'a>) {
        self.record = Some(record);
    }

    /// Waits a little, then returns so that the caller retries its
    /// operation. Returns [`WaitTimeout`] once the deadline has passed.
    ///
    /// The first calls spin (one spin-loop hint each, for
    /// [`WaitPolicy::spin`]), the next ones yield the CPU, and the rest park
    /// on the event's futex for at most one park slice (and never past the
    /// deadline). While spinning, the clock is read at the first call (if
    /// there is a deadline) and then every [`SPIN_CLOCK_EVERY`] calls, so a
    /// timeout may be noticed a few microseconds late. `still_blocked` is the caller's condition (for a
    /// reader, "the ring is empty"); it is re-checked after registering as
    /// a waiter and before parking, which is what prevents lost wake-ups,
    /// so it must read the same shared state the notifier publishes before
    /// calling [`EventCount::notify`].
    pub fn wait(&mut self, still_blocked: impl FnOnce() -> bool) -> Result<(), WaitTimeout> {
        self.stats.waits += 1;
        if self.spinning {
            // Without a deadline the first clock read comes after a round
            // of spins, so a short wait reads no clock at all.
            let first = self.stats.spins == 0 && self.deadline.is_some();
            if first || self.stats.spins % SPIN_CLOCK_EVERY == SPIN_CLOCK_EVERY - 1 {
                let now = Instant::now();
                self.remaining(now)?;
                let spin = self.policy.spin;
                let until = *self
                    .spin_until
                    .get_or_insert_with(|| now.checked_add(spin).unwrap_or(now));
                self.spinning = now < until;
            }
            if self.spinning {
                self.stats.spins += 1;
                std::hint::spin_loop();
                return Ok(());
            }
        }
        let remaining = self.remaining(Instant::now())?;
        if self.yields_done < self.policy.yields {
            self.yields_done += 1;
            self.stats.yields += 1;
            std::thread::yield_now();
        } else {
            let slice = self.park_slice();
            let slice = remaining.map_or(slice, |left| left.min(slice));
            self.park(slice, still_blocked);
        }
        Ok(())
    }

    /// Whether the wait is still in its spin phase (so far): callers with
    /// periodic side duties can skip them while spinning.
    #[inline]
    pub fn is_spinning(&self) -> bool {
        self.spinning
    }

    /// Time left until the deadline at `now` (`None`: no deadline), or
    /// [`WaitTimeout`] once it has passed.
    fn remaining(&mut self, now: Instant) -> Result<Option<Duration>, WaitTimeout> {
        let Some(deadline) = self.deadline else {
            return Ok(None);
        };
        match deadline.checked_duration_since(now) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => {
                self.stats.deadline_expiries += 1;
                Err(WaitTimeout)
            }
        }
    }

    /// The longest next park: short while the wait is young, longer once
    /// it is idle (see [`WaitPolicy`]).
    fn park_slice(&mut self) -> Duration {
        let parked_since = *self.parked_since.get_or_insert_with(Instant::now);
        if parked_since.elapsed() >= self.policy.idle_after {
            self.policy.idle_park_slice
        } else {
            self.policy.park_slice
        }
    }

    /// Steps 1-5 of the park protocol in the [module docs](self).
    fn park(&mut self, slice: Duration, still_blocked: impl FnOnce() -> bool) {
        let EventCount { seq, waiters } = self.event;
        let seen = protocol::announce(seq, waiters);
        if let Some(record) = &self.record {
            record.add();
        }
        if still_blocked() {
            self.stats.parks += 1;
            if futex_wait(seq, seen, Some(slice)) == FutexWait::TimedOut {
                self.stats.park_timeouts += 1;
            }
        }
        if let Some(record) = &self.record {
            record.remove();
        }
        protocol::withdraw(waiters);
    }

    /// What this waiter has done so far.
    pub fn stats(&self) -> WaitStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn no_spin_policy(park_slice: Duration) -> WaitPolicy {
        WaitPolicy {
            spin: Duration::ZERO,
            yields: 0,
            park_slice,
            idle_after: Duration::MAX,
            idle_park_slice: park_slice,
        }
    }

    #[test]
    fn notify_without_waiters_writes_nothing_and_makes_no_syscall() {
        let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
        let event = EventCount::new(&seq, &waiters);
        assert!(!event.notify());
        assert_eq!(seq.load(Ordering::Relaxed), 0);
        assert_eq!(waiters.load(Ordering::Relaxed), 0);
        waiters.store(1, Ordering::Relaxed);
        assert!(event.notify());
        assert_eq!(seq.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn seq_wraps_instead_of_overflowing() {
        let (seq, waiters) = (AtomicU32::new(u32::MAX), AtomicU32::new(1));
        EventCount::new(&seq, &waiters).notify();
        assert_eq!(seq.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn phases_run_in_order_spin_yield_park() {
        let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
        let spin = Duration::from_millis(2);
        let policy = WaitPolicy {
            spin,
            yields: 3,
            park_slice: Duration::from_micros(100),
            ..WaitPolicy::DEFAULT
        };
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);
        let mut waiter =
            Waiter::with_policy(EventCount::new(&seq, &waiters), Some(deadline), policy);
        while waiter.is_spinning() {
            waiter.wait(|| true).expect("deadline is far away");
        }
        assert!(
            start.elapsed() >= spin,
            "spun for less than the policy says"
        );
        // The call that finds the spin time over yields at once.
        let spun = waiter.stats();
        assert_eq!(
            (spun.waits, spun.yields, spun.parks),
            (spun.spins + 1, 1, 0)
        );
        assert!(spun.spins > 0 && spun.spins % SPIN_CLOCK_EVERY == SPIN_CLOCK_EVERY - 1);
        for _ in 0..4 {
            waiter.wait(|| true).expect("deadline is far away");
        }
        let stats = waiter.stats();
        assert_eq!(
            (stats.waits, stats.spins, stats.yields, stats.parks),
            (spun.waits + 4, spun.spins, 3, 2)
        );
        assert_eq!(stats.park_timeouts, 2);
        assert_eq!(waiters.load(Ordering::Relaxed), 0, "waiters count restored");
    }

    #[test]
    fn idle_waits_switch_to_the_idle_slice() {
        let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
        // The young slice is far longer than the deadline, so more than one
        // park before the deadline means the idle slice was used.
        let policy = WaitPolicy {
            spin: Duration::ZERO,
            yields: 0,
            park_slice: Duration::from_secs(60),
            idle_after: Duration::ZERO,
            idle_park_slice: Duration::from_millis(1),
        };
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut waiter =
            Waiter::with_policy(EventCount::new(&seq, &waiters), Some(deadline), policy);
        while waiter.wait(|| true).is_ok() {}
        assert!(waiter.stats().parks > 1, "{:?}", waiter.stats());
    }

    #[test]
    fn a_condition_that_changed_skips_the_park() {
        let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
        let mut waiter = Waiter::with_policy(
            EventCount::new(&seq, &waiters),
            None,
            no_spin_policy(Duration::from_secs(10)),
        );
        waiter.wait(|| false).expect("no deadline");
        assert_eq!(waiter.stats().parks, 0);
        assert_eq!(waiters.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn deadline_is_respected() {
        let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
        let start = Instant::now();
        let deadline = start + Duration::from_millis(20);
        let mut waiter = Waiter::with_policy(
            EventCount::new(&seq, &waiters),
            Some(deadline),
            no_spin_policy(Duration::from_secs(60)),
        );
        let mut result = Ok(());
        // Bounded loop: a 20 ms deadline with clamped parks needs only a few.
        for _ in 0..1000 {
            result = waiter.wait(|| true);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(WaitTimeout));
        assert!(Instant::now() >= deadline);
        assert_eq!(waiter.stats().deadline_expiries, 1);
        assert!(waiter.stats().parks >= 1);
    }

    #[test]
    fn a_past_deadline_fails_at_once() {
        let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
        let mut waiter = Waiter::new(EventCount::new(&seq, &waiters), Some(Instant::now()));
        assert_eq!(waiter.wait(|| true), Err(WaitTimeout));
    }

    #[test]
    fn stats_add_up() {
        let one = WaitStats {
            waits: 1,
            spins: 2,
            yields: 3,
            parks: 4,
            park_timeouts: 5,
            deadline_expiries: 6,
        };
        let mut total = one;
        total += one;
        assert_eq!(
            total,
            WaitStats {
                waits: 2,
                spins: 4,
                yields: 6,
                parks: 8,
                park_timeouts: 10,
                deadline_expiries: 12,
            }
        );
    }

    /// Many hand-offs between two threads with a long park slice: a lost
    /// wake-up would show up as a wait hitting its (generous) deadline.
    #[test]
    fn no_lost_wakeups_between_threads() {
        let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
        let event = EventCount::new(&seq, &waiters);
        let items = AtomicU32::new(0);
        let done = AtomicBool::new(false);
        let rounds = if cfg!(miri) { 5 } else { 300 };
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..rounds {
                    // Wait until the consumer took the previous item.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while items.load(Ordering::Acquire) != 0 && Instant::now() < deadline {
                        std::thread::yield_now();
                    }
                    items.store(1, Ordering::Release);
                    event.notify();
                }
                done.store(true, Ordering::Release);
            });
            for _ in 0..rounds {
                let policy = no_spin_policy(Duration::from_secs(5));
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut waiter = Waiter::with_policy(event, Some(deadline), policy);
                while items.load(Ordering::Acquire) == 0 {
                    waiter
                        .wait(|| items.load(Ordering::Acquire) == 0)
                        .expect("lost wake-up: the deadline passed");
                }
                assert_eq!(waiter.stats().park_timeouts, 0, "a park timed out");
                items.store(0, Ordering::Release);
            }
        });
        assert!(done.load(Ordering::Acquire));
    }
}
