//! Tasks waiting in the inbox: what the condition variable is for threads,
//! for async waits (see `crate::async_link`'s Advanced link).
//!
//! A task that found nothing in the inbox registers its [`Waker`] here,
//! under the inbox lock, before it looks at the pump; so a delivery or a
//! pump hand-off after its look always finds it registered. It is woken:
//!
//! * when its call completes, if it waits for a call (only that task);
//! * when anything else is delivered, if it waits for something other than
//!   a call (every such task looks for its item, as threads do);
//! * for a *turn*, when the pump needs someone to receive: a thread gave
//!   the pump back, or the ring became ready. A turn is the link's, not a
//!   task's: the next task to run an attempt takes it (the async link's
//!   `attempt` pumps even when it found its own item). So a turn wakes
//!   nobody while some task is woken and has not run yet (it will run),
//!   else one task; if the last woken task goes away before it ran, the
//!   turn wakes another. Giving a turn does not scan the registrations
//!   (with a thousand tasks waiting for calls, a scan per turn was most of
//!   the cost of a call).
//!
//! A registration lasts for its task's whole wait and is removed when the
//! wait ends or its future is dropped. Runtime-agnostic: only
//! `std::task::Waker`.

// Only async links register tasks; without them the table stays empty.
#![cfg_attr(not(all(feature = "tokio", unix)), allow(dead_code))]

use std::task::Waker;

use crate::advanced::calls::CallKey;
use crate::advanced::idmap::IdMap;

/// Names one registration; stale once the registration is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskKey {
    index: usize,
    generation: u64,
}

#[derive(Debug)]
struct Waiting {
    waker: Waker,
    /// The call it waits for (`None`: something else).
    call: Option<CallKey>,
    /// Woken and not yet run again (no need to wake it twice).
    woken: bool,
}

/// The registered tasks of one inbox.
#[derive(Debug, Default)]
pub(crate) struct TaskWaiters {
    slots: Vec<Option<(u64, Waiting)>>,
    free: Vec<usize>,
    next_generation: u64,
    len: usize,
    /// Registrations woken and not yet run again.
    woken: usize,
    /// Someone must take a turn at the pump (see the module docs).
    turn_wanted: bool,
    /// Registered tasks that wait for something other than a call (so a
    /// delivery wakes nobody, and scans nothing, when there are none).
    others: usize,
    calls: IdMap<CallKey, TaskKey>,
}

impl TaskWaiters {
    /// Whether no task waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many tasks wait.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn get_mut(&mut self, key: TaskKey) -> Option<&mut Waiting> {
        match self.slots.get_mut(key.index) {
            Some(Some((generation, waiting))) if *generation == key.generation => Some(waiting),
            _ => None,
        }
    }

    /// Registers (or refreshes, as the task runs again) the wait `key` of a
    /// task waiting for `call` (or for anything else), woken through `waker`.
    pub(crate) fn register(
        &mut self,
        key: &mut Option<TaskKey>,
        waker: &Waker,
        call: Option<CallKey>,
    ) {
        if let Some(waiting) = key.and_then(|k| self.get_mut(k)) {
            if !waiting.waker.will_wake(waker) {
                waiting.waker.clone_from(waker);
            }
            if std::mem::take(&mut waiting.woken) {
                self.woken -= 1;
            }
            return;
        }
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let waiting = Waiting {
            waker: waker.clone(),
            call,
            woken: false,
        };
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some((generation, waiting));
        }
        let new = TaskKey { index, generation };
        match call {
            Some(call) => {
                self.calls.insert(call, new);
            }
            None => self.others += 1,
        }
        self.len += 1;
        *key = Some(new);
    }

    /// Removes the registration `key` names. If it was the last woken task
    /// and a turn is wanted, the turn wakes another task.
    pub(crate) fn remove(&mut self, key: &mut Option<TaskKey>) {
        let Some(k) = key.take() else { return };
        let Some(slot) = self.slots.get_mut(k.index) else {
            return;
        };
        if !matches!(slot, Some((generation, _)) if *generation == k.generation) {
            return;
        }
        let Some((_, waiting)) = slot.take() else {
            return;
        };
        self.free.push(k.index);
        self.len -= 1;
        match waiting.call {
            Some(call) => {
                self.calls.remove(&call);
            }
            None => self.others -= 1,
        }
        if waiting.woken {
            self.woken -= 1;
            if self.turn_wanted && self.woken == 0 {
                self.wake_first();
            }
        }
    }

    /// Wakes `waiting` unless it was woken and has not run since; returns
    /// whether it woke it.
    fn wake(waiting: &mut Waiting) -> bool {
        let wake = !waiting.woken;
        if wake {
            waiting.woken = true;
            waiting.waker.wake_by_ref();
        }
        wake
    }

    /// Wakes the task waiting for `call`, if any.
    pub(crate) fn wake_call(&mut self, call: CallKey) {
        if let Some(key) = self.calls.get(&call).copied() {
            if let Some(waiting) = self.get_mut(key) {
                if Self::wake(waiting) {
                    self.woken += 1;
                }
            }
        }
    }

    /// Wakes every task that waits for something other than a call.
    pub(crate) fn wake_others(&mut self) {
        if self.others == 0 {
            return;
        }
        for (_, waiting) in self.slots.iter_mut().flatten() {
            if waiting.call.is_none() && Self::wake(waiting) {
                self.woken += 1;
            }
        }
    }

    /// Wakes every task (a connection closed, the peer is gone).
    pub(crate) fn wake_all(&mut self) {
        for (_, waiting) in self.slots.iter_mut().flatten() {
            if Self::wake(waiting) {
                self.woken += 1;
            }
        }
    }

    /// Asks for a turn at the pump: the next task that runs takes it, so
    /// one is woken only if none is woken already.
    pub(crate) fn wake_turn(&mut self) {
        self.turn_wanted = true;
        if self.woken == 0 {
            self.wake_first();
        }
    }

    /// Clears the wanted turn; `true` if one was wanted (the caller takes
    /// it: it pumps, or someone else already does).
    pub(crate) fn take_turn(&mut self) -> bool {
        std::mem::take(&mut self.turn_wanted)
    }

    /// Wakes one registered task (called when none is woken).
    fn wake_first(&mut self) {
        if let Some((_, waiting)) = self.slots.iter_mut().flatten().next() {
            if Self::wake(waiting) {
                self.woken += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (Arc::clone(&count), Waker::from(count))
    }

    fn woken(count: &Count) -> usize {
        count.0.load(Ordering::Relaxed)
    }

    #[test]
    fn calls_are_woken_alone_and_others_together() {
        let mut tasks = TaskWaiters::default();
        let call = CallKey {
            connection: 0,
            message: 7,
        };
        let ((a, wa), (b, wb), (c, wc)) = (waker(), waker(), waker());
        let (mut ka, mut kb, mut kc) = (None, None, None);
        tasks.register(&mut ka, &wa, Some(call));
        tasks.register(&mut kb, &wb, None);
        tasks.register(&mut kc, &wc, None);
        tasks.wake_call(call);
        assert_eq!((woken(&a), woken(&b), woken(&c)), (1, 0, 0));
        tasks.wake_others();
        tasks.wake_others();
        assert_eq!(
            (woken(&a), woken(&b), woken(&c)),
            (1, 1, 1),
            "woken once until it runs"
        );
        tasks.register(&mut kb, &wb, None);
        tasks.wake_all();
        assert_eq!((woken(&a), woken(&b), woken(&c)), (1, 2, 1));
        for key in [&mut ka, &mut kb, &mut kc] {
            tasks.remove(key);
        }
        assert!(tasks.is_empty() && tasks.calls.is_empty() && tasks.others == 0);
    }

    #[test]
    fn a_turn_not_taken_passes_on() {
        let mut tasks = TaskWaiters::default();
        let ((a, wa), (b, wb)) = (waker(), waker());
        let (mut ka, mut kb) = (None, None);
        tasks.register(&mut ka, &wa, None);
        tasks.register(&mut kb, &wb, None);
        tasks.wake_turn();
        assert_eq!((woken(&a), woken(&b)), (1, 0));
        // While a woken task has not run, another turn wakes nobody.
        tasks.wake_turn();
        assert_eq!((woken(&a), woken(&b)), (1, 0));
        // The woken task goes away before it ran: the other gets the turn.
        tasks.remove(&mut ka);
        assert_eq!(woken(&b), 1);
        // A task that ran and took the turn: removing it wakes nobody.
        tasks.register(&mut kb, &wb, None);
        assert!(tasks.take_turn());
        assert!(!tasks.take_turn());
        tasks.remove(&mut kb);
        assert_eq!((tasks.len(), tasks.woken), (0, 0));
        tasks.remove(&mut kb);
    }
}
