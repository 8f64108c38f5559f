//! Loom model of the event-count protocol: the same [`protocol`](super::protocol)
//! steps as the futex-backed waits, over loom atomics, so loom checks every
//! interleaving for a lost wake-up.
//!
//! A futex wait on `(seq, seen)` sleeps only while `seq == seen` and is
//! woken by a wake issued after it queued, so a waiter that decides to park
//! is woken if and only if the notifier's bump is not already in `seen` and
//! the notifier issues its wake. The models assert exactly that for every
//! waiter whose re-check finds no data.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p hqq-runtime --release --lib loom_model`

use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::protocol::{announce, bump_if_waited, withdraw};

struct Event {
    seq: AtomicU32,
    waiters: AtomicU32,
    data: AtomicBool,
}

impl Event {
    fn new() -> Arc<Self> {
        Arc::new(Event {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            data: AtomicBool::new(false),
        })
    }

    /// Publishes the data and notifies; whether it woke sleepers.
    fn publish(&self) -> bool {
        self.data.store(true, Ordering::Release);
        bump_if_waited(&self.seq, &self.waiters)
    }

    /// Steps 1-3 of a park: `Some(seen)` if the waiter would sleep on
    /// `(seq, seen)`, `None` if its re-check found the data.
    fn park_decision(&self) -> Option<u32> {
        let seen = announce(&self.seq, &self.waiters);
        let blocked = !self.data.load(Ordering::Acquire);
        blocked.then_some(seen)
    }
}

/// The notifier's one bump, if any, takes `seq` from 0 to 1: a sleeper is
/// woken only if it sleeps on 0 and the notifier woke.
fn assert_woken(seen: Option<u32>, woke: bool) {
    if let Some(seen) = seen {
        assert!(woke, "a waiter parked and the notifier saw no waiter");
        assert_eq!(
            seen, 0,
            "a waiter sleeps on a seq that already holds the bump"
        );
    }
}

#[test]
fn a_parking_waiter_is_never_missed() {
    loom::model(|| {
        let event = Event::new();
        let notifier = {
            let event = Arc::clone(&event);
            thread::spawn(move || event.publish())
        };
        let seen = event.park_decision();
        let woke = notifier.join().expect("notifier thread");
        assert_woken(seen, woke);
        withdraw(&event.waiters);
    });
}

#[test]
fn two_parking_waiters_are_never_missed() {
    loom::model(|| {
        let event = Event::new();
        let other = {
            let event = Arc::clone(&event);
            thread::spawn(move || {
                let seen = event.park_decision();
                (seen, event)
            })
        };
        let notifier = {
            let event = Arc::clone(&event);
            thread::spawn(move || event.publish())
        };
        let seen = event.park_decision();
        let woke = notifier.join().expect("notifier thread");
        let (other_seen, _) = other.join().expect("waiter thread");
        assert_woken(seen, woke);
        assert_woken(other_seen, woke);
    });
}
