//! The process's one waiter thread: it parks on the wake words of every
//! link that has a waiting task, and wakes the tasks whose ring became
//! ready.
//!
//! A task that must wait registers `(link, interest, waker)` in the table
//! ([`Watcher::register`]); a registration is one-shot, removed when the
//! thread wakes its task, or by the task when its wait ends or its future
//! is dropped ([`Watcher::deregister`]). Each round, the thread:
//!
//! 1. reads the `control` word, then takes a snapshot of the table (a
//!    registration made after the snapshot changes `control`, so the park
//!    below returns at once);
//! 2. announces itself on every distinct event word of the snapshot
//!    (`seen = seq`, `waiters += 1`: steps 1 and 2 of the event-count
//!    protocol of [`crate::wait`]);
//! 3. re-checks every ring ([`Ring::is_empty_hint`] or
//!    [`Ring::is_full_hint`]); if one is ready it does not park;
//! 4. otherwise parks in `futex_waitv` on `control` and all the `seq`
//!    words (one `futex_wait` on `control` in timed slices where the kernel
//!    lacks `futex_waitv`), for at most the shortest park slice of the
//!    waiting links' [`WaitPolicy`](crate::wait::WaitPolicy), so that
//!    packets from a peer that never notifies are still seen within a slice;
//! 5. withdraws from every `waiters` word, re-checks the rings and wakes
//!    the tasks whose ring is ready; once per
//!    [`PEER_CHECK_INTERVAL`](crate::liveness::PEER_CHECK_INTERVAL) it also
//!    completes dead processes' claims and wakes the tasks of links whose
//!    peer is gone, as a blocked thread would.
//!
//! The lost-wake-up argument of [`crate::wait`] holds per word: the thread
//! is one more waiter that re-checks after announcing.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::advanced::AdvancedLink;
use crate::futex::{futex_wait, futex_wake};
use crate::link::StandardLink;
use crate::liveness::PEER_CHECK_INTERVAL;
use crate::ring::{EventWords, RecoveredClaims, Ring};
use crate::wait::protocol;

use super::waitv::{self, WaitvOutcome, MAX_WORDS};

/// What owns the Standard link a task waits on: the link itself, or an
/// Advanced link over it. The waiter thread keeps the owner alive while the
/// task is registered.
pub(crate) trait OwnsLink: Send + Sync + 'static {
    /// The Standard link whose rings are waited on.
    fn standard(&self) -> &StandardLink;
}

impl OwnsLink for StandardLink {
    fn standard(&self) -> &StandardLink {
        self
    }
}

impl OwnsLink for AdvancedLink<StandardLink> {
    fn standard(&self) -> &StandardLink {
        self.transport()
    }
}

/// What a task waits for on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    /// A published slot on the receive ring.
    Data,
    /// A free slot on the send ring.
    Space,
}

impl Interest {
    fn ring(self, link: &StandardLink) -> &Ring {
        match self {
            Interest::Data => link.memory().rx(),
            Interest::Space => link.memory().tx(),
        }
    }

    /// The event the other side notifies when it makes this available.
    fn words(self, link: &StandardLink) -> EventWords<'_> {
        match self {
            Interest::Data => self.ring(link).data_event(),
            Interest::Space => self.ring(link).space_event(),
        }
    }

    /// Whether the ring still lacks what we wait for (a racy hint).
    pub(crate) fn blocked(self, link: &StandardLink) -> bool {
        match self {
            Interest::Data => self.ring(link).is_empty_hint(),
            Interest::Space => self.ring(link).is_full_hint(),
        }
    }
}

/// Names one registration; stale once the registration is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: usize,
    generation: u64,
}

struct Entry {
    link: Arc<dyn OwnsLink>,
    interest: Interest,
    waker: Waker,
    /// When the task's wait began: its park slice lengthens with age.
    since: Instant,
}

#[derive(Default)]
struct Table {
    slots: Vec<Option<(u64, Entry)>>,
    free: Vec<usize>,
    next_generation: u64,
    len: usize,
}

impl Table {
    fn get_mut(&mut self, key: Key) -> Option<&mut Entry> {
        match self.slots.get_mut(key.index) {
            Some(Some((generation, entry))) if *generation == key.generation => Some(entry),
            _ => None,
        }
    }

    fn insert(&mut self, entry: Entry) -> Key {
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some((generation, entry));
        }
        self.len += 1;
        Key { index, generation }
    }

    fn remove(&mut self, key: Key) -> Option<Entry> {
        let slot = self.slots.get_mut(key.index)?;
        match slot {
            Some((generation, _)) if *generation == key.generation => {}
            _ => return None,
        }
        let (_, entry) = slot.take()?;
        self.free.push(key.index);
        self.len -= 1;
        Some(entry)
    }
}

/// One registration as the thread sees it during a round.
struct Watched {
    key: Key,
    link: Arc<dyn OwnsLink>,
    interest: Interest,
    slice: Duration,
}

/// The registration table and the thread that serves it.
pub(crate) struct Watcher {
    table: Mutex<Table>,
    /// Bumped (and woken) on every registration change, so the parked
    /// thread takes a new snapshot.
    control: AtomicU32,
    /// Whether the thread could be started; without it tasks poll.
    running: AtomicBool,
    /// Set once `futex_waitv` turned out to be unavailable.
    no_waitv: AtomicBool,
}

static WATCHER: OnceLock<Watcher> = OnceLock::new();
/// The process whose waiter thread runs (0: none yet). A child made by
/// `fork` inherits the table but not the thread, and starts its own.
static THREAD_PID: AtomicU32 = AtomicU32::new(0);
static STARTING: Mutex<()> = Mutex::new(());

/// The process's watcher, starting its thread on first use.
pub(crate) fn watcher() -> &'static Watcher {
    let watcher = WATCHER.get_or_init(|| Watcher {
        table: Mutex::new(Table::default()),
        control: AtomicU32::new(0),
        running: AtomicBool::new(false),
        no_waitv: AtomicBool::new(false),
    });
    let pid = std::process::id();
    if THREAD_PID.load(Ordering::Acquire) != pid {
        let _starting = STARTING.lock().unwrap_or_else(PoisonError::into_inner);
        if THREAD_PID.load(Ordering::Acquire) != pid {
            let started = std::thread::Builder::new()
                .name("hqq-async-waiter".into())
                .spawn(move || watcher.run());
            watcher.running.store(started.is_ok(), Ordering::Release);
            THREAD_PID.store(pid, Ordering::Release);
        }
    }
    watcher
}

/// How many tasks are registered with the waiter thread now (0 before any
/// task waited).
pub(crate) fn registered() -> usize {
    WATCHER.get().map_or(0, |w| w.lock().len)
}

impl Watcher {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent even if a holder panicked.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers (or refreshes) the wait `key` of a task: `waker` is woken
    /// once `interest` is available on `link`. Returns `false` if there is
    /// no waiter thread (the task must then poll).
    pub(crate) fn register(
        &self,
        key: &mut Option<Key>,
        link: &Arc<dyn OwnsLink>,
        interest: Interest,
        waker: &Waker,
        since: Instant,
    ) -> bool {
        if !self.running.load(Ordering::Acquire) {
            return false;
        }
        let mut table = self.lock();
        if let Some(entry) = key.and_then(|k| table.get_mut(k)) {
            if !entry.waker.will_wake(waker) {
                entry.waker.clone_from(waker);
            }
            return true;
        }
        *key = Some(table.insert(Entry {
            link: Arc::clone(link),
            interest,
            waker: waker.clone(),
            since,
        }));
        drop(table);
        self.poke();
        true
    }

    /// Removes the registration `key` names, if it still exists.
    pub(crate) fn deregister(&self, key: &mut Option<Key>) {
        let Some(k) = key.take() else { return };
        let removed = self.lock().remove(k);
        if removed.is_some() {
            // So the thread stops announcing itself on words nobody waits on.
            self.poke();
        }
        drop(removed);
    }

    /// Makes the thread take a new snapshot.
    fn poke(&self) {
        self.control.fetch_add(1, Ordering::Release);
        futex_wake(&self.control, 1);
    }

    fn snapshot(&self) -> Vec<Watched> {
        let table = self.lock();
        let now = Instant::now();
        let mut watched = Vec::with_capacity(table.len);
        for (index, slot) in table.slots.iter().enumerate() {
            let Some((generation, entry)) = slot else {
                continue;
            };
            let policy = entry.link.standard().wait_policy();
            let idle = now.saturating_duration_since(entry.since) >= policy.idle_after;
            watched.push(Watched {
                key: Key {
                    index,
                    generation: *generation,
                },
                link: Arc::clone(&entry.link),
                interest: entry.interest,
                slice: if idle {
                    policy.idle_park_slice
                } else {
                    policy.park_slice
                },
            });
        }
        watched
    }

    fn run(&self) {
        let mut next_check = Instant::now();
        loop {
            let control_seen = self.control.load(Ordering::Acquire);
            let watched = self.snapshot();
            if watched.is_empty() {
                // A registration changes `control` first; no timeout needed.
                futex_wait(&self.control, control_seen, None);
                continue;
            }
            self.park(&watched, control_seen);
            let mut wake: Vec<Key> = watched
                .iter()
                .filter(|w| !w.interest.blocked(w.link.standard()))
                .map(|w| w.key)
                .collect();
            let now = Instant::now();
            if now >= next_check {
                next_check = now + PEER_CHECK_INTERVAL;
                wake.extend(check_peers(&watched));
            }
            self.wake(&wake);
        }
    }

    /// Steps 2 to 5 short of the wake-ups: announce on every word, re-check,
    /// park unless something is ready, withdraw.
    fn park(&self, watched: &[Watched], control_seen: u32) {
        let mut words: Vec<(&AtomicU32, &AtomicU32)> = Vec::new();
        for w in watched {
            let (seq, waiters) = w.interest.words(w.link.standard());
            if !words.iter().any(|(s, _)| std::ptr::eq(*s, seq)) {
                words.push((seq, waiters));
            }
        }
        let mut expected = Vec::with_capacity(words.len() + 1);
        expected.push((&self.control, control_seen));
        for (seq, waiters) in &words {
            expected.push((*seq, protocol::announce(*seq, *waiters)));
        }
        let ready = watched
            .iter()
            .any(|w| !w.interest.blocked(w.link.standard()));
        if !ready {
            let mut slice = watched.iter().map(|w| w.slice).min().unwrap_or_default();
            if expected.len() > MAX_WORDS {
                // Words beyond the kernel's limit are only polled.
                let short = watched
                    .iter()
                    .map(|w| w.link.standard().wait_policy().park_slice);
                slice = slice.min(short.min().unwrap_or_default());
            }
            self.sleep(&expected, control_seen, slice);
        }
        for (_, waiters) in &words {
            protocol::withdraw(*waiters);
        }
    }

    fn sleep(&self, expected: &[(&AtomicU32, u32)], control_seen: u32, slice: Duration) {
        if !self.no_waitv.load(Ordering::Relaxed) {
            match waitv::wait_any(expected, slice) {
                WaitvOutcome::Returned => return,
                WaitvOutcome::Unsupported => self.no_waitv.store(true, Ordering::Relaxed),
            }
        }
        futex_wait(&self.control, control_seen, Some(slice));
    }

    /// Removes the registrations `keys` names and wakes their tasks.
    fn wake(&self, keys: &[Key]) {
        if keys.is_empty() {
            return;
        }
        let mut table = self.lock();
        let entries: Vec<Entry> = keys.iter().filter_map(|k| table.remove(*k)).collect();
        drop(table);
        for entry in entries {
            entry.waker.wake();
        }
    }
}

/// Completes dead processes' claims on the waited-on links, and returns
/// the registrations to wake: those of links where something was
/// completed or whose peer is gone.
fn check_peers(watched: &[Watched]) -> Vec<Key> {
    let mut wake = Vec::new();
    let mut checked: Vec<(*const StandardLink, bool)> = Vec::new();
    for w in watched
        .iter()
        .filter(|w| w.link.standard().has_wake_words())
    {
        let link = w.link.standard();
        let ptr: *const StandardLink = link;
        let changed = match checked.iter().find(|(p, _)| *p == ptr) {
            Some((_, changed)) => *changed,
            None => {
                // One observation per interval of the other side (see
                // `crate::liveness::watch`), as a blocked operation makes.
                let changed =
                    link.recover_dead_claims() != RecoveredClaims::default() || link.observe_peer();
                checked.push((ptr, changed));
                changed
            }
        };
        if changed {
            wake.push(w.key);
        }
    }
    wake
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::LinkConfig;
    use crate::wait::WaitPolicy;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A watcher of its own (not the process's), serving on a thread that
    /// parks forever once the test is done.
    fn private_watcher(no_waitv: bool) -> &'static Watcher {
        let watcher: &'static Watcher = Box::leak(Box::new(Watcher {
            table: Mutex::new(Table::default()),
            control: AtomicU32::new(0),
            running: AtomicBool::new(true),
            no_waitv: AtomicBool::new(no_waitv),
        }));
        std::thread::spawn(move || watcher.run());
        watcher
    }

    /// A message sent after registration wakes the task, and the
    /// registration is gone afterwards. With `futex_waitv` the park slices
    /// are a minute long, so only the sender's notify can end the wait in
    /// time; the fallback notices the message at the end of a 1 ms slice.
    fn wakes_a_registered_task(no_waitv: bool) {
        let watcher = private_watcher(no_waitv);
        let slice = if no_waitv {
            Duration::from_millis(1)
        } else {
            Duration::from_secs(60)
        };
        let mut config = LinkConfig::new();
        config.slots(4).buffer_size(64).wait_policy(WaitPolicy {
            park_slice: slice,
            idle_park_slice: slice,
            ..WaitPolicy::DEFAULT
        });
        let (a, b) = StandardLink::pair(&config).expect("pair");
        let b: Arc<dyn OwnsLink> = Arc::new(b);
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut key = None;
        assert!(watcher.register(&mut key, &b, Interest::Data, &waker, Instant::now()));
        // Let the thread park first (it may not have: then its re-check
        // sees the message).
        std::thread::sleep(Duration::from_millis(20));
        a.try_send(b"x").expect("send");
        let deadline = Instant::now() + Duration::from_secs(20);
        while counter.0.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "the task was never woken");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(watcher.lock().len, 0);
        watcher.deregister(&mut key);
        assert_eq!(key, None);
    }

    #[test]
    fn wakes_with_futex_waitv() {
        wakes_a_registered_task(false);
    }

    #[test]
    fn wakes_without_futex_waitv() {
        wakes_a_registered_task(true);
    }

    #[test]
    fn keys_of_removed_entries_go_stale() {
        let mut config = LinkConfig::new();
        config.slots(4).buffer_size(64);
        let (a, _b) = StandardLink::pair(&config).expect("pair");
        let link: Arc<dyn OwnsLink> = Arc::new(a);
        let waker = Waker::from(Arc::new(CountingWaker::default()));
        let mut table = Table::default();
        let entry = || Entry {
            link: Arc::clone(&link),
            interest: Interest::Data,
            waker: waker.clone(),
            since: Instant::now(),
        };
        let first = table.insert(entry());
        assert!(table.remove(first).is_some());
        let second = table.insert(entry());
        // The slot is reused, but the old key does not name the new entry.
        assert_eq!(first.index, second.index);
        assert!(table.get_mut(first).is_none());
        assert!(table.remove(first).is_none());
        assert_eq!(table.len, 1);
    }
}
