//! Quality of service on the sending side (only once both sides
//! negotiated QualityOfService): per-connection priority classes and
//! bandwidth caps.
//!
//! Every chunk a sender puts in the ring first takes its *turn* from the
//! send scheduler: it waits for its connection's token bucket (if the
//! connection has a cap), then until no sender of a higher class waits for
//! a turn. Senders of one class go side by side. So a small call on a
//! high-priority connection goes into the ring right after the chunk that
//! a low-priority gigabyte transfer is putting there now: the transfer's
//! next chunk waits.
//!
//! What is already in the ring stays in its order (the ring is FIFO), and
//! the threads of both classes often share a core. So while a higher class
//! is *busy* (a sender of it waits for a turn, or a call on it waits for
//! its response), a lower-class chunk also waits while the ring holds 4 or
//! more packets the peer has not received, or after 2 lower-class chunks
//! in a row: it yields the CPU (then sleeps in short slices). A call's
//! request thus lands behind at most a few bulk chunks, and the bulk
//! sender runs in short bursts. A caller of the busy class waiting for its
//! response yields the CPU too, instead of spinning, while a lower-class
//! sender is held back: the two take turns on the core, so the bulk
//! transfer keeps going, in small steps, between the calls. Once the
//! higher class is idle the lower one fills the ring again.
//!
//! The receive side helps: a thread waiting for a High connection's item
//! pumps in preference to the others, and a pumper that routed a High
//! item for a sleeping thread yields the CPU to it.
//!
//! Priority is strict: a busy high class holds lower classes back; a
//! bandwidth cap on it leaves them room.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::advanced::error::AdvancedStateError;
use crate::advanced::idmap::IdMap;
use crate::advanced::link::{lock, AdvancedLink};
use crate::advanced::transport::PacketTransport;
use crate::protocol::Features;

/// The priority class of a connection's sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Priority {
    /// Bulk traffic: goes when no other class waits.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Latency-sensitive traffic: goes first.
    High,
}

impl Priority {
    const CLASSES: usize = 3;

    fn index(self) -> usize {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
        }
    }
}

/// Longest a sender sleeps before it looks at its deadline again.
const TURN_SLICE: Duration = Duration::from_millis(20);

/// Most packets the peer has not received yet that a lower-class chunk
/// may find in the ring while a higher class is busy (see the module
/// docs): what a higher-priority chunk can find ahead of it.
pub(crate) const LOWER_CLASS_BACKLOG: u64 = 4;

/// Chunks lower classes put in the ring in a row, while a higher class is
/// busy, before they yield the CPU: bounds how long a busy class's thread
/// on the same core waits for it.
pub(crate) const LOWER_CLASS_BURST: u64 = 2;

/// Times a lower-class sender yields the CPU, while the backlog is full,
/// before it sleeps [`BACKLOG_SLICE`]s instead (the peer usually drains a
/// few chunks within a few yields).
const BACKLOG_YIELDS: u32 = 64;

/// How long a lower-class sender sleeps before it looks at the backlog
/// again (nothing wakes it when the peer drains the ring).
const BACKLOG_SLICE: Duration = Duration::from_micros(50);

/// A token bucket: `rate` bytes per second, up to `burst` bytes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenBucket {
    rate: u64,
    burst: u64,
    tokens: u64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket of `rate` bytes per second (at least 1) holding
    /// `burst` bytes (at least 1).
    pub(crate) fn new(rate: u64, burst: u64, now: Instant) -> Self {
        let burst = burst.max(1);
        TokenBucket {
            rate: rate.max(1),
            burst,
            tokens: burst,
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let nanos = now.saturating_duration_since(self.refilled).as_nanos();
        let earned = nanos.saturating_mul(u128::from(self.rate)) / 1_000_000_000;
        if earned == 0 {
            return;
        }
        let earned = u64::try_from(earned).unwrap_or(u64::MAX);
        self.tokens = self.tokens.saturating_add(earned).min(self.burst);
        self.refilled = now;
    }

    /// Takes `bytes` (at most the burst count) if the bucket holds them,
    /// else says how long until it will.
    pub(crate) fn take(&mut self, bytes: u64, now: Instant) -> Result<(), Duration> {
        let bytes = bytes.min(self.burst);
        self.refill(now);
        if self.tokens >= bytes {
            self.tokens -= bytes;
            return Ok(());
        }
        let missing = u128::from(bytes - self.tokens);
        let nanos = (missing * 1_000_000_000).div_ceil(u128::from(self.rate));
        Err(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }
}

/// What a connection's sends are scheduled by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct ConnectionPolicy {
    priority: Priority,
    cap: Option<TokenBucket>,
}

#[derive(Debug, Default)]
struct SchedulerState {
    /// Senders of each class waiting for (or holding) a turn.
    waiting: [usize; Priority::CLASSES],
    /// Calls of each class waiting for their response.
    calls: [usize; Priority::CLASSES],
    /// Chunks lower classes put in the ring in a row while a higher class
    /// was busy.
    lower_burst: u64,
    policies: IdMap<u64, ConnectionPolicy>,
}

impl SchedulerState {
    fn higher_waiting(&self, class: usize) -> bool {
        self.waiting
            .get(class + 1..)
            .is_some_and(|above| above.iter().any(|&n| n != 0))
    }

    /// A sender or a call of a class above `class` is at work.
    fn higher_busy(&self, class: usize) -> bool {
        self.higher_waiting(class)
            || self
                .calls
                .get(class + 1..)
                .is_some_and(|above| above.iter().any(|&n| n != 0))
    }

    fn priority(&self, connection: u64) -> Priority {
        self.policies
            .get(&connection)
            .map_or(Priority::Normal, |policy| policy.priority)
    }
}

/// Whose chunk goes into the ring next.
#[derive(Debug, Default)]
pub(crate) struct SendScheduler {
    state: Mutex<SchedulerState>,
    turn: Condvar,
    /// Lower-class senders waiting for the backlog to drain (read without
    /// the lock by the busy class's receive loop, which then yields the
    /// CPU to them while it waits).
    held_back: AtomicUsize,
}

/// A sender's turn: held while its chunk goes into the ring.
#[derive(Debug)]
pub(crate) struct SendTurn<'a> {
    scheduler: &'a SendScheduler,
    class: usize,
}

impl Drop for SendTurn<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.scheduler.state);
        if let Some(waiting) = state.waiting.get_mut(self.class) {
            *waiting = waiting.saturating_sub(1);
        }
        if state.waiting.iter().any(|&n| n != 0) {
            self.scheduler.turn.notify_all();
        }
    }
}

/// A call in progress on a connection of some class: while it lives, lower
/// classes keep their backlog in the ring short.
#[derive(Debug)]
pub(crate) struct CallInProgress<'a> {
    scheduler: &'a SendScheduler,
    class: usize,
}

impl Drop for CallInProgress<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.scheduler.state);
        if let Some(calls) = state.calls.get_mut(self.class) {
            *calls = calls.saturating_sub(1);
        }
    }
}

/// The deadline passed before a sender's turn came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TurnTimedOut;

impl SendScheduler {
    /// Sets `connection`'s priority class.
    pub(crate) fn set_priority(&self, connection: u64, priority: Priority) {
        lock(&self.state)
            .policies
            .entry(connection)
            .or_default()
            .priority = priority;
    }

    /// Caps `connection` at `rate` bytes per second with bursts of `burst`
    /// bytes (`None`: no cap).
    pub(crate) fn set_cap(&self, connection: u64, rate: Option<u64>, burst: u64) {
        let cap = rate.map(|rate| TokenBucket::new(rate, burst, Instant::now()));
        lock(&self.state)
            .policies
            .entry(connection)
            .or_default()
            .cap = cap;
    }

    /// Forgets a closed connection.
    pub(crate) fn forget(&self, connection: u64) {
        lock(&self.state).policies.remove(&connection);
    }

    /// The priority class of `connection` (Normal unless set).
    pub(crate) fn priority(&self, connection: u64) -> Priority {
        lock(&self.state).priority(connection)
    }

    /// Registers a call on `connection` until the guard drops.
    pub(crate) fn call(&self, connection: u64) -> CallInProgress<'_> {
        let mut state = lock(&self.state);
        let class = state.priority(connection).index();
        if let Some(calls) = state.calls.get_mut(class) {
            *calls += 1;
        }
        CallInProgress {
            scheduler: self,
            class,
        }
    }

    /// Senders of `priority` waiting for or holding a turn.
    pub(crate) fn waiting(&self, priority: Priority) -> usize {
        let state = lock(&self.state);
        state.waiting.get(priority.index()).copied().unwrap_or(0)
    }

    /// Waits until `deadline` for the turn of a chunk of `bytes` on
    /// `connection`: its cap's tokens first, then no higher class waiting,
    /// then (while a higher class is busy) a `backlog` of packets in the
    /// ring below [`LOWER_CLASS_BACKLOG`].
    pub(crate) fn turn(
        &self,
        connection: u64,
        bytes: u64,
        deadline: Instant,
        backlog: impl Fn() -> Option<u64>,
    ) -> Result<SendTurn<'_>, TurnTimedOut> {
        let mut state = lock(&self.state);
        let class = loop {
            let now = Instant::now();
            let policy = state.policies.get_mut(&connection);
            let (priority, wait) = match policy {
                Some(policy) => (
                    policy.priority,
                    policy.cap.as_mut().and_then(|b| b.take(bytes, now).err()),
                ),
                None => (Priority::Normal, None),
            };
            let Some(wait) = wait else {
                break priority.index();
            };
            if now + wait > deadline {
                return Err(TurnTimedOut);
            }
            state = self.sleep(state, wait.min(TURN_SLICE));
        };
        if let Some(waiting) = state.waiting.get_mut(class) {
            *waiting += 1;
        }
        let turn = SendTurn {
            scheduler: self,
            class,
        };
        while state.higher_waiting(class) {
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                return Err(TurnTimedOut);
            }
            state = self.sleep(
                state,
                deadline.saturating_duration_since(now).min(TURN_SLICE),
            );
        }
        drop(self.wait_for_backlog(state, class, deadline, backlog)?);
        Ok(turn)
    }

    /// Waits until `deadline` while a class above `class` is busy and
    /// either the ring's `backlog` is at [`LOWER_CLASS_BACKLOG`] or more,
    /// or the lower classes put [`LOWER_CLASS_BURST`] chunks in a row in
    /// the ring: it yields the CPU (to the busy class's threads, often on
    /// this core), and after [`BACKLOG_YIELDS`] yields sleeps in
    /// [`BACKLOG_SLICE`]s.
    fn wait_for_backlog<'a>(
        &'a self,
        mut state: std::sync::MutexGuard<'a, SchedulerState>,
        class: usize,
        deadline: Instant,
        backlog: impl Fn() -> Option<u64>,
    ) -> Result<std::sync::MutexGuard<'a, SchedulerState>, TurnTimedOut> {
        let held_back = |state: &SchedulerState| {
            state.higher_busy(class)
                && (state.lower_burst >= LOWER_CLASS_BURST
                    || backlog().is_some_and(|n| n >= LOWER_CLASS_BACKLOG))
        };
        if held_back(&state) {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            let waited = self.wait_while_held_back(state, deadline, held_back);
            self.held_back.fetch_sub(1, Ordering::Relaxed);
            state = waited?;
        }
        state.lower_burst = match state.higher_busy(class) {
            true => state.lower_burst.saturating_add(1),
            false => 0,
        };
        Ok(state)
    }

    /// Whether a lower-class sender waits for the backlog to drain now.
    pub(crate) fn holds_back(&self) -> bool {
        self.held_back.load(Ordering::Relaxed) != 0
    }

    fn wait_while_held_back<'a>(
        &'a self,
        mut state: std::sync::MutexGuard<'a, SchedulerState>,
        deadline: Instant,
        held_back: impl Fn(&SchedulerState) -> bool,
    ) -> Result<std::sync::MutexGuard<'a, SchedulerState>, TurnTimedOut> {
        let mut yields = 0;
        while held_back(&state) {
            let now = Instant::now();
            if now >= deadline {
                return Err(TurnTimedOut);
            }
            if yields < BACKLOG_YIELDS {
                yields += 1;
                drop(state);
                std::thread::yield_now();
                state = lock(&self.state);
            } else {
                state = self.sleep(
                    state,
                    deadline.saturating_duration_since(now).min(BACKLOG_SLICE),
                );
            }
            // The busy class had its chance at the CPU: a new burst.
            state.lower_burst = 0;
        }
        Ok(state)
    }

    fn sleep<'a>(
        &self,
        state: std::sync::MutexGuard<'a, SchedulerState>,
        wait: Duration,
    ) -> std::sync::MutexGuard<'a, SchedulerState> {
        self.turn
            .wait_timeout(state, wait)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }
}

/// Why [`AdvancedLink::set_priority`] or
/// [`AdvancedLink::set_bandwidth_cap`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum QosError {
    /// The link has not negotiated QualityOfService.
    #[error(transparent)]
    State(#[from] AdvancedStateError),
    /// The connection is not open.
    #[error("connection {0} is not open")]
    NotConnected(u64),
}

const QUALITY_OF_SERVICE: Option<(Features, &str)> =
    Some((Features::QUALITY_OF_SERVICE, "QualityOfService"));

impl<T: PacketTransport> AdvancedLink<T> {
    /// Sends on `connection` (0 = the link itself) at `priority` from now
    /// on: its next chunk waits while a sender of a higher class waits.
    /// Closing the connection forgets it.
    ///
    /// ```
    /// use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, Priority};
    /// use hqq_runtime::link::LinkConfig;
    ///
    /// let config = AdvancedConfig::default().quality_of_service();
    /// let (a, b) = AdvancedLink::pair(LinkConfig::new().slots(8).buffer_size(64), config)?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| b.wait_for_negotiation().map(drop));
    ///     a.negotiate(config.offer)
    /// })?;
    /// a.set_priority(0, Priority::High)?;
    /// a.set_bandwidth_cap(0, Some(100 << 20))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_priority(&self, connection: u64, priority: Priority) -> Result<(), QosError> {
        self.qos_connection(connection)?;
        self.scheduler.set_priority(connection, priority);
        Ok(())
    }

    /// Caps what this side sends on `connection` at `bytes_per_second`
    /// (a token bucket holding 20 ms of it, at least one buffer); `None`
    /// lifts the cap.
    pub fn set_bandwidth_cap(
        &self,
        connection: u64,
        bytes_per_second: Option<u64>,
    ) -> Result<(), QosError> {
        self.qos_connection(connection)?;
        let burst = bytes_per_second
            .map_or(0, |rate| rate / 50)
            .max(self.limits.buffer_size);
        self.scheduler.set_cap(connection, bytes_per_second, burst);
        Ok(())
    }

    /// How many senders of class `priority` wait for (or hold) a turn to
    /// put a chunk in the ring now (0 without QualityOfService).
    pub fn scheduled_senders(&self, priority: Priority) -> usize {
        self.scheduler.waiting(priority)
    }

    fn qos_connection(&self, connection: u64) -> Result<(), QosError> {
        self.require(QUALITY_OF_SERVICE)?;
        if !self.is_open(connection) {
            return Err(QosError::NotConnected(connection));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_its_rate_through() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1000, 100, start);
        assert_eq!(bucket.take(100, start), Ok(()));
        let wait = bucket.take(50, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(50));
        assert_eq!(bucket.take(50, start + wait), Ok(()));
        // Never more than the burst, however long it was idle.
        let later = start + Duration::from_secs(60);
        assert_eq!(bucket.take(100, later), Ok(()));
        assert!(bucket.take(1, later).is_err());
        // A chunk above the burst waits for a full bucket.
        assert_eq!(
            bucket.take(1000, later + Duration::from_millis(100)),
            Ok(())
        );
    }

    #[test]
    fn a_higher_class_goes_first_and_the_same_class_side_by_side() {
        let scheduler = SendScheduler::default();
        scheduler.set_priority(1, Priority::Low);
        scheduler.set_priority(2, Priority::High);
        let deadline = Instant::now() + Duration::from_secs(5);
        let high = scheduler.turn(2, 10, deadline, || None).unwrap();
        // Low waits while a high-priority sender holds (or waits for) a turn.
        assert_eq!(
            scheduler.turn(1, 10, Instant::now(), || None).map(drop),
            Err(TurnTimedOut)
        );
        // Normal (connection 3 has no policy) is below High too.
        assert!(scheduler.turn(3, 10, Instant::now(), || None).is_err());
        let second_high = scheduler.turn(2, 10, Instant::now(), || None).unwrap();
        drop(high);
        drop(second_high);
        let low = scheduler.turn(1, 10, Instant::now(), || None).unwrap();
        let other_low = scheduler.turn(1, 10, Instant::now(), || None).unwrap();
        drop((low, other_low));
    }

    #[test]
    fn a_waiting_low_sender_goes_when_the_high_one_is_done() {
        let scheduler = SendScheduler::default();
        scheduler.set_priority(1, Priority::Low);
        scheduler.set_priority(2, Priority::High);
        let high = scheduler.turn(2, 10, Instant::now(), || None).unwrap();
        std::thread::scope(|s| {
            let low = s.spawn(|| {
                scheduler
                    .turn(1, 10, Instant::now() + Duration::from_secs(10), || None)
                    .map(drop)
            });
            std::thread::sleep(Duration::from_millis(30));
            drop(high);
            assert_eq!(low.join().unwrap(), Ok(()));
        });
    }

    #[test]
    fn a_lower_class_keeps_its_backlog_short_while_a_higher_call_waits() {
        let scheduler = SendScheduler::default();
        scheduler.set_priority(1, Priority::Low);
        scheduler.set_priority(2, Priority::High);
        let full = || Some(LOWER_CLASS_BACKLOG);
        let short = || Some(LOWER_CLASS_BACKLOG - 1);
        let soon = || Instant::now() + Duration::from_millis(5);
        // No higher call: the ring's backlog does not matter.
        assert!(scheduler.turn(1, 10, soon(), full).is_ok());
        let call = scheduler.call(2);
        // A burst of lower-class chunks ends with a yield: past its
        // deadline, the chunk after the burst is refused.
        let burst = (0..LOWER_CLASS_BURST)
            .map(|_| scheduler.turn(1, 10, Instant::now(), short).map(drop))
            .collect::<Vec<_>>();
        assert!(burst.iter().all(Result::is_ok), "{burst:?}");
        assert_eq!(
            scheduler.turn(1, 10, Instant::now(), short).map(drop),
            Err(TurnTimedOut)
        );
        assert_eq!(
            scheduler.turn(1, 10, soon(), full).map(drop),
            Err(TurnTimedOut)
        );
        assert!(scheduler.turn(1, 10, soon(), short).is_ok());
        // A transport that cannot tell its backlog is not held back.
        assert!(scheduler.turn(1, 10, soon(), || None).is_ok());
        // The high class itself never waits for the backlog.
        assert!(scheduler.turn(2, 10, Instant::now(), full).is_ok());
        // A sleeping low sender goes once the call is done.
        std::thread::scope(|s| {
            let low = s.spawn(|| {
                scheduler
                    .turn(1, 10, Instant::now() + Duration::from_secs(10), full)
                    .map(drop)
            });
            std::thread::sleep(Duration::from_millis(30));
            drop(call);
            assert_eq!(low.join().unwrap(), Ok(()));
        });
    }

    #[test]
    fn a_capped_connection_times_out_rather_than_wait_past_its_deadline() {
        let scheduler = SendScheduler::default();
        scheduler.set_cap(1, Some(1000), 100);
        assert!(scheduler.turn(1, 100, Instant::now(), || None).is_ok());
        let deadline = Instant::now() + Duration::from_millis(10);
        assert!(scheduler.turn(1, 100, deadline, || None).is_err());
        scheduler.set_cap(1, None, 0);
        assert!(scheduler.turn(1, 100, Instant::now(), || None).is_ok());
    }
}
