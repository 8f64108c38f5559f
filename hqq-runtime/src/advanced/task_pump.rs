//! The async side of the receive path (cargo feature `tokio`): one
//! bounded attempt of a task's wait, in the hand-off of the `pump` module.
//! A task takes part like a thread, except that it never blocks: where a
//! thread would sleep on the condition variable it registers its waker
//! with the inbox (the `tasks` module), and where a thread would block in
//! the transport it drains the ring and lets the async link wait for the
//! ring's readiness.

use std::task::Waker;

use crate::advanced::calls::CallKey;
use crate::advanced::inbox::Inbox;
use crate::advanced::link::{lock, AdvancedLink};
use crate::advanced::tasks::TaskKey;
use crate::advanced::transport::{PacketTransport, TransportError};

/// What one [`AdvancedLink::attempt`] of an async wait found.
#[derive(Debug)]
pub(crate) enum Attempt<R> {
    /// The item; `true` if this attempt pumped and other tasks still wait
    /// (the caller then arms the ring's readiness for them). An attempt
    /// that finds its item at once still pumps if a turn was wanted.
    Found(R, bool),
    /// Not there; the pump was free and the ring is drained: the caller
    /// waits for the ring's readiness (its registration stays).
    Drained,
    /// Not there; someone else pumps and will wake the task.
    Busy,
    /// Receiving failed (the registration is gone).
    Failed(TransportError),
}

impl<T: PacketTransport> AdvancedLink<T> {
    /// One attempt of an async wait (bounded, never blocks): takes what
    /// `take` wants, else registers the task's `waker` (`task` names its
    /// registration, which stays until [`forget_task`](Self::forget_task);
    /// `call` is the call it waits for, if any) and, if the pump is free,
    /// receives what has arrived and looks again. A turn at the pump that
    /// was wanted is taken by this attempt either way (see the `tasks`
    /// module).
    pub(crate) fn attempt<R>(
        &self,
        task: &mut Option<TaskKey>,
        waker: &Waker,
        call: Option<CallKey>,
        mut take: impl FnMut(&mut Inbox) -> Option<R>,
    ) -> Attempt<R> {
        {
            let mut inbox = lock(&self.inbox);
            if let Some(found) = take(&mut inbox) {
                // What was taken gives its credit back (FlowControl).
                self.flush_credit(&mut inbox);
                let turn = inbox.tasks.take_turn() && inbox.handoff.try_pump();
                inbox.tasks.remove(task);
                if !turn {
                    return Attempt::Found(found, false);
                }
                drop(inbox);
                return self.pump_for_others(found);
            }
            inbox.tasks.register(task, waker, call);
            inbox.tasks.take_turn();
            if !inbox.handoff.try_pump() {
                // The pumper wakes us when it routes something or leaves.
                return Attempt::Busy;
            }
        }
        let (mut inbox, outcome) = self.pump_arrived();
        // This task watches the ring next: no turn for another.
        self.give_back_pump(&mut inbox, false);
        if let Some(found) = take(&mut inbox) {
            self.flush_credit(&mut inbox);
            inbox.tasks.remove(task);
            return Attempt::Found(found, !inbox.tasks.is_empty());
        }
        match outcome {
            Ok(()) | Err(TransportError::TimedOut) => Attempt::Drained,
            Err(e) => {
                inbox.tasks.remove(task);
                Attempt::Failed(e)
            }
        }
    }

    /// Takes the wanted turn of a task that found its item (`found`) and
    /// holds the pump: receives what has arrived for the others. A failure
    /// to receive is not this task's: the others are woken to meet it.
    fn pump_for_others<R>(&self, found: R) -> Attempt<R> {
        let (mut inbox, outcome) = self.pump_arrived();
        self.give_back_pump(&mut inbox, false);
        if matches!(outcome, Err(e) if e != TransportError::TimedOut) {
            inbox.tasks.wake_all();
        }
        Attempt::Found(found, !inbox.tasks.is_empty())
    }

    /// Ends an async wait that did not find its item: removes its task
    /// registration (a turn it was given passes on).
    pub(crate) fn forget_task(&self, task: &mut Option<TaskKey>) {
        if task.is_some() {
            lock(&self.inbox).tasks.remove(task);
        }
    }

    /// How many tasks wait in the inbox.
    pub(crate) fn task_count(&self) -> usize {
        lock(&self.inbox).tasks.len()
    }

    /// Wakes every waiting task (the peer is gone: each sees it).
    pub(crate) fn wake_all_tasks(&self) {
        lock(&self.inbox).tasks.wake_all();
    }

    /// Gives one waiting task a turn at the pump (the ring looks ready).
    pub(crate) fn wake_task_turn(&self) {
        lock(&self.inbox).tasks.wake_turn();
    }
}
