//! The receive path of an [`AdvancedLink`]: waiting for something in the
//! inbox while one thread at a time receives for everyone.
//!
//! # The hand-off
//!
//! Whether a thread pumps and how many sleep is the inbox's hand-off state
//! (the `handoff` module, with a loom model), changed only under the inbox
//! lock. A waiter that finds nothing takes the pump if it is free, else
//! sleeps on the condition variable, releasing the lock atomically. The
//! pumper gives the pump back under the same lock and signals if anyone
//! sleeps. So a waiter either sees the pump free, or is asleep (and
//! counted) before the pumper looks: no waiter sleeps through a free pump.
//! The pumper also signals when it routed something a thread may wait
//! for, and only if someone sleeps (a lone caller makes no wake-up system
//! call). Every sleeper wakes on such a signal and looks for its item;
//! threads do not have a condition variable each.
//!
//! # Bounded work
//!
//! A pumper receives for at most [`WAIT_SLICE`] (and never past its own
//! deadline), routes one packet at a time, and sends queued replies only
//! when the peer's ring has room (one attempt each): no caller waits past
//! its deadline because of work for others.

use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use crate::advanced::handoff::Turn;
use crate::advanced::inbox::{Inbox, InboxEvents, Routed};
use crate::advanced::link::{lock, AdvancedLink};
use crate::advanced::qos::Priority;
use crate::advanced::transport::{PacketTransport, TransportError};
use crate::codec::PacketCodec;
use crate::packet::Packet;
use crate::protocol::Features;

/// Longest a thread blocks in the transport or on the condition variable
/// before it looks at its deadline and the pump again.
const WAIT_SLICE: Duration = Duration::from_millis(20);

/// Longest a thread that left the pump to a High-priority waiter sleeps
/// before it looks again (the pumper wakes it sooner for what it routes
/// for it; this bounds the time nobody pumps once the High waiter left).
const ASIDE_SLICE: Duration = Duration::from_micros(50);

/// Most packets a `try_` call receives before it gives up.
const TRY_PACKETS: usize = 256;

/// How long a call may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Until this instant.
    Until(Instant),
    /// Not at all: take what has arrived, after receiving what the ring
    /// holds (at most [`TRY_PACKETS`] packets).
    Now,
}

impl Wait {
    /// The deadline for a send: `Now` is one attempt.
    pub(crate) fn instant(self) -> Instant {
        match self {
            Wait::Until(deadline) => deadline,
            Wait::Now => Instant::now(),
        }
    }
}

impl<T: PacketTransport> AdvancedLink<T> {
    /// Sends a control packet, waiting for room until `deadline`.
    pub(crate) fn send_control(
        &self,
        packet: Packet,
        deadline: Instant,
    ) -> Result<(), TransportError> {
        self.transport.send_packet(Some(deadline), |_, _| packet)
    }

    /// Queues `packet` for the peer with the replies (sent when its ring
    /// has room; dropped and counted if too many wait).
    pub(crate) fn queue_reply(&self, packet: Packet) {
        lock(&self.inbox).reply(packet);
    }

    /// Sends queued replies while the peer's ring has room (one attempt
    /// each); the rest wait for the next flush.
    pub(crate) fn flush_replies(&self) {
        self.flush_replies_locked(&mut lock(&self.inbox));
    }

    /// [`flush_replies`](Self::flush_replies) with the inbox locked; also
    /// sends the ConnCredit packets owed (one attempt each, like replies:
    /// one that does not fit now stays owed, with its newest limit).
    pub(crate) fn flush_replies_locked(&self, inbox: &mut Inbox) {
        if let Some(flow) = &mut inbox.flow {
            while let Some(credit) = flow.receive.next_owed() {
                let packet = credit.encode();
                let sent = self
                    .transport
                    .send_packet(Some(Instant::now()), |_, _| packet);
                if sent.is_err() {
                    break;
                }
                flow.receive.sent();
            }
        }
        while let Some(&reply) = inbox.replies.front() {
            let sent = self
                .transport
                .send_packet(Some(Instant::now()), |_, _| reply);
            if sent.is_err() {
                break;
            }
            inbox.replies.pop_front();
        }
    }

    /// Waits (as `wait` says) until `take` finds what it wants in the
    /// inbox, pumping the receive side when no other thread does.
    pub(crate) fn wait_for<R>(
        &self,
        wait: Wait,
        take: impl FnMut(&mut Inbox) -> Option<R>,
    ) -> Result<R, TransportError> {
        self.wait_for_on(wait, None, take)
    }

    /// [`wait_for`](Self::wait_for) an item of `connection`. With
    /// QualityOfService, a waiter for a High-priority connection's item
    /// pumps in preference to the others (they sleep aside while it
    /// waits): it sees its item as soon as it arrives, with no hand-off
    /// between threads.
    pub(crate) fn wait_for_on<R>(
        &self,
        wait: Wait,
        connection: Option<u64>,
        take: impl FnMut(&mut Inbox) -> Option<R>,
    ) -> Result<R, TransportError> {
        let deadline = match wait {
            Wait::Until(deadline) => deadline,
            Wait::Now => return self.try_take(take),
        };
        let high = self.granted(Features::QUALITY_OF_SERVICE)
            && connection.is_some_and(|c| self.scheduler.priority(c) == Priority::High);
        let mut inbox = lock(&self.inbox);
        if high {
            inbox.high_waiters += 1;
        }
        let (mut inbox, outcome) = self.wait_locked(inbox, deadline, high, take);
        if high {
            inbox.high_waiters = inbox.high_waiters.saturating_sub(1);
        }
        outcome
    }

    /// The loop of [`wait_for_on`](Self::wait_for_on), from and to a
    /// locked inbox.
    fn wait_locked<'a, R>(
        &'a self,
        mut inbox: MutexGuard<'a, Inbox>,
        deadline: Instant,
        high: bool,
        mut take: impl FnMut(&mut Inbox) -> Option<R>,
    ) -> (MutexGuard<'a, Inbox>, Result<R, TransportError>) {
        loop {
            if let Some(found) = take(&mut inbox) {
                self.flush_credit(&mut inbox);
                return (inbox, Ok(found));
            }
            if std::mem::take(&mut inbox.handed_high) {
                // The High item is another thread's: let it run now (often
                // on this core) rather than after this thread's time slice.
                drop(inbox);
                std::thread::yield_now();
                inbox = lock(&self.inbox);
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return (inbox, Err(TransportError::TimedOut));
            }
            let slice = deadline.min(now + WAIT_SLICE);
            if !high && inbox.high_waiters != 0 {
                inbox.handoff.sleep_aside();
                let wait = slice.min(now + ASIDE_SLICE).saturating_duration_since(now);
                inbox = self.sleep_until_arrival(inbox, wait);
                continue;
            }
            if inbox.handoff.turn() == Turn::Sleep {
                let wait = slice.saturating_duration_since(now);
                inbox = self.sleep_until_arrival(inbox, wait);
                continue;
            }
            drop(inbox);
            // A lower-class sender of this process waits for the ring to
            // drain, likely on this core: look once and yield the CPU to
            // it instead of spinning through its turn.
            let polling = high && self.scheduler.holds_back();
            let until = if polling { now } else { slice };
            let (locked, pumped) = self.pump_once(Some(until), now);
            inbox = locked;
            self.give_back_pump(&mut inbox, true);
            if polling && pumped == Err(TransportError::TimedOut) {
                drop(inbox);
                std::thread::yield_now();
                inbox = lock(&self.inbox);
            }
            match pumped {
                Ok(()) | Err(TransportError::TimedOut) => {}
                Err(e) => return (inbox, Err(e)),
            }
        }
    }

    /// The `try_` form of [`wait_for`](Self::wait_for): takes what is
    /// there, else receives what has arrived (bounded) and looks again.
    fn try_take<R>(
        &self,
        mut take: impl FnMut(&mut Inbox) -> Option<R>,
    ) -> Result<R, TransportError> {
        {
            let mut inbox = lock(&self.inbox);
            if let Some(found) = take(&mut inbox) {
                self.flush_credit(&mut inbox);
                return Ok(found);
            }
            if !inbox.handoff.try_pump() {
                // The pumper routes for us; what it has not received yet
                // is not there.
                return Err(TransportError::TimedOut);
            }
        }
        let (mut inbox, outcome) = self.pump_arrived();
        self.give_back_pump(&mut inbox, true);
        match outcome {
            Ok(()) | Err(TransportError::TimedOut) => {
                let found = take(&mut inbox).ok_or(TransportError::TimedOut);
                self.flush_credit(&mut inbox);
                found
            }
            Err(e) => Err(e),
        }
    }

    /// Sleeps on the inbox's condition variable for at most `wait` (a
    /// pumper's notify ends it early) and tells the hand-off it woke.
    fn sleep_until_arrival<'a>(
        &'a self,
        inbox: MutexGuard<'a, Inbox>,
        wait: Duration,
    ) -> MutexGuard<'a, Inbox> {
        let mut inbox = self
            .arrived
            .wait_timeout(inbox, wait)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
        inbox.handoff.woke();
        inbox
    }

    /// Receives what has arrived (at most [`TRY_PACKETS`] packets, no
    /// waiting) with the pump held; returns with the inbox locked.
    pub(super) fn pump_arrived(&self) -> (MutexGuard<'_, Inbox>, Result<(), TransportError>) {
        let now = Instant::now();
        let mut round = 0;
        loop {
            let (inbox, outcome) = self.pump_once(Some(now), now);
            round += 1;
            if outcome.is_err() || round == TRY_PACKETS {
                return (inbox, outcome);
            }
        }
    }

    /// Gives the pump back: sleeping threads are signalled (one of them
    /// pumps next, or takes what was routed) and, if `hand_to_tasks`,
    /// one waiting task gets a turn (a thread that stops pumping leaves
    /// nobody receiving for the tasks).
    pub(super) fn give_back_pump(&self, inbox: &mut Inbox, hand_to_tasks: bool) {
        if inbox.handoff.release() {
            self.arrived.notify_all();
        }
        if hand_to_tasks && !inbox.tasks.is_empty() {
            inbox.tasks.wake_turn();
        }
    }

    /// Sends the ConnCredit packets (and replies) owed after the
    /// application took something, without waiting.
    pub(super) fn flush_credit(&self, inbox: &mut Inbox) {
        if inbox.flow.as_ref().is_some_and(|f| f.receive.owes()) {
            self.flush_replies_locked(inbox);
        }
    }

    /// Receives one packet (waiting until `deadline`), routes it at `now`,
    /// and sends the replies it owes without blocking. An idle slice evicts
    /// idle partial messages.
    /// Returns with the inbox locked (the caller looks into it next, so
    /// routing and taking share one lock).
    fn pump_once(
        &self,
        deadline: Option<Instant>,
        now: Instant,
    ) -> (MutexGuard<'_, Inbox>, Result<(), TransportError>) {
        let received = self.transport.recv_packet(deadline, |packet, payload| {
            let mut inbox = lock(&self.inbox);
            // Once granted it stays (the handshake may grant it first).
            if !inbox.compression_granted {
                inbox.compression_granted = self.compression_granted();
            }
            let routed = inbox.route(&packet, payload, now);
            self.count(&routed, &mut inbox.events);
            if let Ok(routed) = &routed {
                if routed.delivered && inbox.handoff.has_sleepers() {
                    self.arrived.notify_all();
                    inbox.handed_high |= self.granted(Features::QUALITY_OF_SERVICE)
                        && self.scheduler.priority(routed.connection) == Priority::High;
                }
            }
            inbox
        });
        match received {
            Ok(mut inbox) => {
                if !inbox.replies.is_empty()
                    || inbox.flow.as_ref().is_some_and(|f| f.receive.owes())
                {
                    self.flush_replies_locked(&mut inbox);
                }
                (inbox, Ok(()))
            }
            Err(TransportError::TimedOut) => {
                let mut inbox = lock(&self.inbox);
                if inbox.evict_idle(Instant::now()) != 0 {
                    self.counters.take_events(&mut inbox.events);
                }
                self.flush_replies_locked(&mut inbox);
                (inbox, Err(TransportError::TimedOut))
            }
            Err(e) => (lock(&self.inbox), Err(e)),
        }
    }

    fn count(&self, routed: &Result<Routed, impl Sized>, events: &mut InboxEvents) {
        match routed {
            Ok(routed) => {
                if routed.chunk {
                    self.counters.chunk_received();
                }
                if routed.aborted {
                    self.counters.abort();
                }
                if routed.peer_error {
                    self.counters.peer_error();
                }
                if let Some(bytes) = routed.completed {
                    self.counters.message_received(routed.connection, bytes);
                }
            }
            Err(_) => self.counters.error(),
        }
        if *events != InboxEvents::default() {
            self.counters.take_events(events);
        }
    }
}
